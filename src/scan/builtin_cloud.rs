//! Built-in rules for cloud and infrastructure providers (AWS, Google Cloud, Azure, ...).

use super::checks;
use super::rule::{after_non_alnum, assign, def, glued, token, Def, UUID};

/// Returns the built-in rules of cloud providers.
pub(crate) fn rules() -> Vec<Def> {
    let mut rules = aws_google_azure();
    rules.extend(platforms());
    rules.extend(hosting());
    rules
}

fn aws_google_azure() -> Vec<Def> {
    vec![
        def(
            "aws-access-key-id",
            "AWS access key id",
            r"(\bA3T[A-Z0-9][A-Z2-7]{16}|(?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16})\b",
            &["akia", "asia", "abia", "acca", "a3t"],
        )
        .entropy(3.0),
        def(
            "aws-access-key-id-assignment",
            "A value assigned to aws_access_key_id (any alphabet: not only AKIA and base32)",
            assign(r"aws[_.\-]?access[_.\-]?key[_.\-]?id", r"[A-Za-z0-9+/=]{16,128}"),
            &["aws_access_key", "aws-access-key", "awsaccesskey", "aws.access.key"],
        )
        .entropy(2.5)
        .check(checks::assigned_value),
        def(
            "aws-secret-access-key",
            "AWS secret access key assigned to an aws...secret name",
            assign(
                r"aws[\w.\-]*?(?:secret|_sk)|secret[_.\-]?access[_.\-]?key",
                r"[A-Za-z0-9/+]{40}",
            ),
            &["aws", "secret_access", "secretaccess", "secret-access", "secret.access"],
        )
        .entropy(4.0),
        def(
            "aws-bedrock-api-key-long-lived",
            "Amazon Bedrock long-term API key",
            glued(r"ABSKQmVkcm9ja0FQSUtleS1[A-Za-z0-9+/]{100,120}={0,2}"),
            &["absk"],
        )
        .entropy(3.0),
        def(
            "aws-bedrock-api-key-short-lived",
            "Amazon Bedrock short-term API key",
            // The prefix is base64 of the service host; `[Y]` keeps this line from matching itself.
            r"\b(bedrock-api-key-YmVkcm9jay5hbWF6b25hd3Mu[Y]29t[A-Za-z0-9+/=%&_.\-]*)",
            &["bedrock-api-key-"],
        ),
        def(
            "gcp-api-key",
            "Google API key (Maps, Gemini, Firebase, ...)",
            after_non_alnum(r"AIza[\w\-]{35}"),
            &["aiza"],
        )
        .entropy(3.5),
        def(
            "gcp-service-account",
            "Google Cloud service-account key file (private_key_id)",
            r#""private_key_id"\s*:\s*"([a-f0-9]{40})""#,
            &["private_key_id"],
        ),
        def(
            "google-oauth-client-secret",
            "Google OAuth client secret",
            glued(r"GOCSPX-[A-Za-z0-9_\-]{28}"),
            &["gocspx-"],
        ),
        def(
            "azure-storage-account-key",
            "Azure storage account key in a connection string (AccountKey=)",
            r"(?i:AccountKey)\s*=\s*([A-Za-z0-9+/]{86}==)",
            &["accountkey"],
        ),
        def(
            "azure-shared-access-key",
            "Azure Service Bus / Event Hubs shared access key (SharedAccessKey=)",
            r"(?i:SharedAccessKey)\s*=\s*([A-Za-z0-9+/]{43}=)",
            &["sharedaccesskey"],
        ),
        def(
            "azure-ad-client-secret",
            "Azure AD (Entra ID) application client secret",
            r#"(?:^|[\\'"\x60\s>=:(,)])([a-zA-Z0-9_~.]{3}\dQ~[a-zA-Z0-9_~.\-]{31,34})(?:$|[\\'"\x60\s<),])"#,
            &["q~"],
        )
        .entropy(3.0),
    ]
}

fn platforms() -> Vec<Def> {
    vec![
        def(
            "digitalocean-token",
            "DigitalOcean personal access, OAuth or refresh token",
            glued(r"do[opr]_v1_[a-f0-9]{64}"),
            &["dop_v1_", "doo_v1_", "dor_v1_"],
        )
        .entropy(3.0),
        def(
            "databricks-api-token",
            "Databricks personal access token",
            token(r"dapi[a-f0-9]{32}(?:-\d)?"),
            &["dapi"],
        )
        .entropy(3.0),
        def(
            "cloudflare-api-key",
            "Cloudflare API token or global API key assigned to a cloudflare name",
            assign(r"cloudflare", r"[A-Za-z0-9_\-]{40}|[a-f0-9]{37}"),
            &["cloudflare"],
        )
        .entropy(2.0),
        def(
            "cloudflare-origin-ca-key",
            "Cloudflare Origin CA key",
            token(r"v1\.0-[a-f0-9]{24}-[a-f0-9]{146}"),
            &["v1.0-"],
        )
        .entropy(2.0),
        def(
            "heroku-api-key",
            "Heroku API key (legacy UUID assigned to a heroku name, or HRKU- key)",
            format!(
                "{}|{}",
                assign("heroku", UUID),
                glued(r"HRKU-AA[0-9a-zA-Z_\-]{58}")
            ),
            &["heroku", "hrku-aa"],
        ),
        def(
            "hashicorp-tf-api-token",
            "Terraform Cloud / Enterprise API token",
            token(r"(?i:[a-z0-9]{14})\.atlasv1\.(?i:[a-z0-9_=\-]{60,70})"),
            &["atlasv1"],
        )
        .entropy(3.5),
        def(
            "vault-service-token",
            "HashiCorp Vault service token",
            glued(r"hvs\.[\w\-]{90,120}"),
            &["hvs."],
        )
        .entropy(3.5),
        def(
            "vault-batch-token",
            "HashiCorp Vault batch token",
            glued(r"hvb\.[\w\-]{138,300}"),
            &["hvb."],
        )
        .entropy(4.0),
    ]
}

fn hosting() -> Vec<Def> {
    vec![
        def(
            "alibaba-access-key-id",
            "Alibaba Cloud AccessKey ID",
            token(r"LTAI[A-Za-z0-9]{20}"),
            &["ltai"],
        )
        .entropy(3.0),
        def(
            "flyio-access-token",
            "Fly.io access token",
            token(
                r"fo1_[\w\-]{43}|fm1[ar]_[A-Za-z0-9+/]{100,}={0,3}|fm2_[A-Za-z0-9+/]{100,}={0,3}",
            ),
            &["fo1_", "fm1", "fm2_"],
        )
        .entropy(4.0),
        def(
            "scalingo-api-token",
            "Scalingo API token",
            glued(r"tk-us-[\w\-]{48}"),
            &["tk-us-"],
        )
        .entropy(2.0),
        def(
            "doppler-api-token",
            "Doppler API token",
            glued(r"dp\.pt\.[A-Za-z0-9]{43}"),
            &["dp.pt."],
        )
        .entropy(3.0),
        def(
            "dynatrace-api-token",
            "Dynatrace API token",
            glued(r"dt0c01\.[A-Za-z0-9]{24}\.[A-Za-z0-9]{64}"),
            &["dt0c01."],
        ),
        def(
            "planetscale-token",
            "PlanetScale API token, OAuth token or password",
            glued(r"pscale_(?:tkn|oauth|pw)_[\w=.\-]{32,64}"),
            &["pscale_"],
        )
        .entropy(3.0),
        def(
            "clickhouse-cloud-api-secret-key",
            "ClickHouse Cloud API secret key",
            r"\b(4b1d[A-Za-z0-9]{38})\b",
            &["4b1d"],
        )
        .entropy(3.0),
        def(
            "openshift-user-token",
            "OpenShift user token",
            r"\b(sha256~[\w\-]{43})(?:[^\w\-]|$)",
            &["sha256~"],
        )
        .entropy(3.5),
        def(
            "docker-hub-token",
            "Docker Hub personal access token",
            glued(r"dckr_pat_[A-Za-z0-9_\-]{27}"),
            &["dckr_pat_"],
        ),
        def(
            "pulumi-api-token",
            "Pulumi access token",
            token(r"pul-[a-f0-9]{40}"),
            &["pul-"],
        )
        .entropy(2.0),
        def(
            "infracost-api-token",
            "Infracost API token",
            token(r"ico-[A-Za-z0-9]{32}"),
            &["ico-"],
        )
        .entropy(3.0),
    ]
}
