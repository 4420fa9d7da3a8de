//! One secret each built-in rule must catch, and one look-alike it must let through.
//!
//! Test secrets are generated at run time by a fixed-seed generator, so the source holds
//! no credential-shaped literal; they are fake all the same.

use artifact_store::scan::Scanner;

const ALNUM: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const LETTERS: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const HEX: &str = "0123456789abcdef";
const UPPER: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const LOWER: &str = "abcdefghijklmnopqrstuvwxyz0123456789";
const DIGITS: &str = "0123456789";
const BASE32: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const BASE64: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const AGE: &str = "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L";

/// A fixed-seed generator of fake secrets; it remembers what it made.
struct Gen {
    state: u64,
    made: Vec<String>,
}

impl Gen {
    fn new() -> Gen {
        Gen {
            state: 0x9E37_79B9_7F4A_7C15,
            made: Vec::new(),
        }
    }

    fn pick(&mut self, alphabet: &str, n: usize) -> String {
        let chars: Vec<char> = alphabet.chars().collect();
        let out: String = (0..n)
            .map(|_| {
                self.state ^= self.state << 13;
                self.state ^= self.state >> 7;
                self.state ^= self.state << 17;
                chars[(self.state % chars.len() as u64) as usize]
            })
            .collect();
        self.made.push(out.clone());
        out
    }

    fn an(&mut self, n: usize) -> String {
        self.pick(ALNUM, n)
    }

    fn hex(&mut self, n: usize) -> String {
        self.pick(HEX, n)
    }

    fn uuid(&mut self) -> String {
        let h = self.hex(32);
        format!(
            "{}-{}-{}-{}-{}",
            &h[..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..]
        )
    }

    fn pem_lines(&mut self, lines: usize) -> String {
        (0..lines)
            .map(|_| self.pick(BASE64, 64))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

struct Case {
    rule: &'static str,
    hit: String,
    miss: String,
}

fn case(rule: &'static str, hit: String, miss: impl Into<String>) -> Case {
    Case {
        rule,
        hit,
        miss: miss.into(),
    }
}

fn ai(g: &mut Gen) -> Vec<Case> {
    vec![
        case(
            "openai-api-key",
            format!("OPENAI_API_KEY=sk-proj-{}T3BlbkFJ{}", g.an(74), g.an(74)),
            format!("OPENAI_API_KEY=sk-proj-{}", "x".repeat(60)),
        ),
        case(
            "anthropic-api-key",
            format!(
                "key: sk-ant-api03-{}AA",
                g.pick("abcdefghijklmnopqrstuvwxyzABCDEF0123456789-_", 93)
            ),
            format!("see sk-ant-api03-{}BB", g.an(93)),
        ),
        case(
            "anthropic-admin-api-key",
            format!("key: sk-ant-admin01-{}AA", g.an(93)),
            format!("see sk-ant-admin01-{}BB", g.an(93)),
        ),
        case(
            "huggingface-access-token",
            format!("huggingface-cli login --token hf_{}", g.pick(LETTERS, 34)),
            format!("call hf_{}", "abcdefghijklmnopqrstuvwxyzabcdefgh"),
        ),
        case(
            "huggingface-organization-api-token",
            format!("use_auth_token='api_org_{}'", g.pick(LETTERS, 34)),
            "const api_org_controller = require('./orgs');",
        ),
        case(
            "perplexity-api-key",
            format!("PPLX=pplx-{}", g.an(48)),
            format!("PPLX=pplx-{}", "x".repeat(48)),
        ),
        case(
            "groq-api-key",
            format!("client = Groq(api_key=\"gsk_{}\")", g.an(52)),
            format!("gsk_{}", "x".repeat(52)),
        ),
        case(
            "xai-api-key",
            format!("XAI_API_KEY=xai-{}", g.an(80)),
            format!("xai-{}", "x".repeat(80)),
        ),
        case(
            "replicate-api-token",
            format!("REPLICATE_API_TOKEN=r8_{}", g.an(37)),
            "r8_short",
        ),
        case(
            "langsmith-api-key",
            format!("LANGCHAIN_API_KEY=lsv2_pt_{}_{}", g.hex(32), g.hex(10)),
            "lsv2_pt_short",
        ),
        case(
            "pinecone-api-key",
            format!("pc = Pinecone(api_key=\"pcsk_{}_{}\")", g.an(6), g.an(60)),
            "pcsk_abc",
        ),
        case(
            "tavily-api-key",
            format!("TAVILY_API_KEY=tvly-dev-{}", g.an(32)),
            format!("tvly-{}", "x".repeat(32)),
        ),
        case(
            "openrouter-api-key",
            format!("OPENROUTER_API_KEY=sk-or-v1-{}", g.hex(64)),
            format!("sk-or-v1-{}", "0".repeat(64)),
        ),
        case(
            "langfuse-secret-key",
            format!("LANGFUSE_SECRET_KEY=sk-lf-{}", g.uuid()),
            format!("LANGFUSE_PUBLIC_KEY=pk-lf-{}", g.uuid()),
        ),
        case(
            "cohere-api-key",
            format!("COHERE_API_KEY = \"{}\"", g.an(40)),
            format!("COHERE_API_KEY = \"{}\"", "x".repeat(40)),
        ),
        case(
            "wandb-api-key",
            format!("WANDB_API_KEY={}", g.hex(40)),
            "WANDB_API_KEY=$WANDB_KEY",
        ),
    ]
}

fn cloud(g: &mut Gen) -> Vec<Case> {
    vec![
        case("aws-access-key-id", format!("aws_access_key_id = AKIA{}", g.pick(BASE32, 16)), "aws_access_key_id = AKIAIOSFODNN7EXAMPLE"),
        case("aws-access-key-id-assignment", format!("AWS_ACCESS_KEY_ID={}", g.an(20)), "aws_access_key_id = ${AWS_ACCESS_KEY_ID}"),
        case("aws-secret-access-key", format!("aws_secret_access_key = {}", g.pick("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/+", 40)), "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        case("aws-bedrock-api-key-long-lived", format!("ABSKQmVkcm9ja0FQSUtleS1{}=", g.pick(BASE64, 108)), "ABSKQmVkcm9ja0FQSUtleS1EXAMPLE"),
        case("aws-bedrock-api-key-short-lived", format!("AWS_BEARER_TOKEN_BEDROCK=bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t&X-Amz-Security-Token={}", g.an(40)), "prefix bedrock-api-key- only"),
        case("gcp-api-key", format!("GOOGLE_API_KEY=AIza{}", g.pick("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-", 35)), "key: AIzaSyDMAScliyLx7F0NPDEJi1QmyCgHIAODrlU"),
        case("gcp-service-account", format!("{{\"type\": \"service_account\", \"private_key_id\": \"{}\"}}", g.hex(40)), "{\"type\": \"service_account\", \"private_key_id\": \"\"}"),
        case("google-oauth-client-secret", format!("client_secret: GOCSPX-{}", g.an(28)), format!("GOCSPX-{}", "x".repeat(28))),
        case("azure-storage-account-key", format!("DefaultEndpointsProtocol=https;AccountName=acme;AccountKey={}==;EndpointSuffix=core.windows.net", g.pick(BASE64, 86)), "AccountKey=<your-account-key>;"),
        case("azure-shared-access-key", format!("Endpoint=sb://acme.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey={}=", g.pick(BASE64, 43)), "SharedAccessKey={{ key }};"),
        case("azure-ad-client-secret", format!("AZURE_CLIENT_SECRET=\"{}8Q~{}\"", g.an(3), g.an(34)), format!("AZURE_CLIENT_SECRET=\"abc8Q~{}\"", "x".repeat(34))),
        case("digitalocean-token", format!("DO_TOKEN=dop_v1_{}", g.hex(64)), format!("dop_v1_{}", "0".repeat(64))),
        case("databricks-api-token", format!("DATABRICKS_HOST_TOKEN=dapi{}", g.hex(32)), format!("dapi{}", "0".repeat(32))),
        case("cloudflare-api-key", format!("CLOUDFLARE_API_TOKEN={}", g.pick("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-", 40)), "CLOUDFLARE_API_TOKEN=${CF_TOKEN}"),
        case("cloudflare-origin-ca-key", format!("origin_ca: v1.0-{}-{}", g.hex(24), g.hex(146)), format!("v1.0-{}", g.hex(24))),
        case("heroku-api-key", format!("HEROKU_API_KEY={}", g.uuid()), "HEROKU_APP_NAME=acme-staging"),
        case("hashicorp-tf-api-token", format!("token = \"{}.atlasv1.{}\"", g.pick(LOWER, 14), g.an(67)), format!("token = \"{}.atlasv1.{}\"", "x".repeat(14), "x".repeat(67))),
        case("vault-service-token", format!("VAULT_TOKEN=hvs.{}", g.an(100)), format!("hvs.{}", "x".repeat(100))),
        case("vault-batch-token", format!("VAULT_TOKEN=hvb.{}", g.an(150)), "hvb.short"),
        case("alibaba-access-key-id", format!("access_key_id: LTAI{}", g.an(20)), format!("LTAI{}", "x".repeat(20))),
        case("flyio-access-token", format!("FLY_API_TOKEN=fo1_{}", g.an(43)), format!("fo1_{}", "x".repeat(43))),
        case("scalingo-api-token", format!("scalingo login --api-token tk-us-{}", g.an(48)), "tk-us-short"),
        case("doppler-api-token", format!("DOPPLER_TOKEN=dp.pt.{}", g.an(43)), "dp.pt.short"),
        case("dynatrace-api-token", format!("DT_API_TOKEN=dt0c01.{}.{}", g.pick(UPPER, 24), g.pick(UPPER, 64)), "dt0c01.short"),
        case("planetscale-token", format!("PLANETSCALE_TOKEN=pscale_tkn_{}", g.an(40)), format!("pscale_tkn_{}", "x".repeat(40))),
        case("clickhouse-cloud-api-secret-key", format!("CH_KEY_SECRET=4b1d{}", g.an(38)), format!("4b1d{}", "X".repeat(38))),
        case("openshift-user-token", format!("oc login --token=sha256~{}", g.an(43)), "oc login --token=sha256~XXXXXXXXXX_PUT_YOUR_TOKEN_HERE_XXXXXXXXXXXX"),
        case("docker-hub-token", format!("echo dckr_pat_{} | docker login -u acme --password-stdin", g.an(27)), format!("dckr_pat_{}", "x".repeat(27))),
        case("pulumi-api-token", format!("PULUMI_ACCESS_TOKEN=pul-{}", g.hex(40)), format!("pul-{}", "0".repeat(40))),
        case("infracost-api-token", format!("INFRACOST_API_KEY=ico-{}", g.an(32)), format!("<img src=\"favicon.ico-{}.png\">", g.hex(32))),
    ]
}

fn dev(g: &mut Gen) -> Vec<Case> {
    vec![
        case("github-pat", format!("git clone https://ghp_{}@github.com/acme/repo", g.an(36)), format!("ghp_{}", "x".repeat(36))),
        case("github-fine-grained-pat", format!("GH_TOKEN=github_pat_{}_{}", g.an(22), g.an(59)), format!("github_pat_{}", "x".repeat(82))),
        case("github-oauth", format!("oauth: gho_{}", g.an(36)), format!("gho_{}", "x".repeat(36))),
        case("github-app-token", format!("installation: ghs_{}", g.an(36)), format!("ghs_{}", "x".repeat(36))),
        case("github-refresh-token", format!("refresh: ghr_{}", g.an(36)), format!("ghr_{}", "x".repeat(36))),
        case("gitlab-pat", format!("GITLAB_TOKEN=glpat-{}", g.an(20)), "glpat-XXXXXXXXXXX-XXXXXXXX"),
        case("gitlab-pipeline-trigger-token", format!("trigger: glptt-{}", g.hex(40)), format!("glptt-{}", "0".repeat(40))),
        case("gitlab-runner-registration-token", format!("registration-token GR1348941{}", g.an(20)), "GR134894112312312312312312312"),
        case("gitlab-runner-token", format!("token = \"glrt-{}\"", g.an(20)), format!("glrt-{}", "x".repeat(20))),
        case("gitlab-token", format!("deploy: gldt-{}", g.an(20)), format!("gldt-{}", "x".repeat(20))),
        case("bitbucket-app-password", format!("BITBUCKET_APP_PASSWORD=ATBB{}", g.an(32)), format!("ATBB{}", "x".repeat(32))),
        case("atlassian-api-token", format!("JIRA_API_TOKEN={}7", g.an(23)), "getPagesInConfluenceSpace,searchConfluenceUsingCql"),
        case("npm-access-token", format!("NPM_TOKEN=npm_{}", g.an(36)), format!("npm_{}", "x".repeat(36))),
        case("npmrc-auth-token", format!("//registry.npmjs.org/:_authToken={}", g.pick(BASE64, 36)), "//registry.npmjs.org/:_authToken=${NPM_TOKEN}"),
        case("pypi-upload-token", format!("password = pypi-AgEIcHlwaS5vcmc{}", g.pick("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-", 70)), "pypi-AgEIcHlwaS5vcmc"),
        case("rubygems-api-token", format!("GEM_HOST_API_KEY: rubygems_{}", g.hex(48)), "rubygems_short"),
        case("nuget-api-key", format!("dotnet nuget push pkg.nupkg --api-key oy2{}", g.pick(LOWER, 43)), "oy2short"),
        case("clojars-api-token", format!("CLOJARS_{}", g.pick(LOWER, 60)), "CLOJARS_short"),
        case("jfrog-api-key", format!("artifactory: AKCp{}", g.an(69)), format!("lowEntropy := AKCp{}", "X".repeat(69))),
        case("sonar-api-token", format!("SONAR_TOKEN=squ_{}", g.hex(40)), "SONAR_TOKEN=${{ secrets.SONAR_TOKEN }}"),
        case("snyk-api-token", format!("SNYK_TOKEN={}", g.uuid()), "SNYK_ORG=acme-platform"),
        case("sourcegraph-access-token", format!("SRC_ACCESS_TOKEN=sgp_{}_{}", g.hex(16), g.hex(40)), "sgp_local_GGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGG"),
        case("sentry-org-token", format!("SENTRY_AUTH_TOKEN=sntrys_eyJpYXQiOjE2ODczMzY1NDMuNjk4NTksInVybCI6bnVsbCwicmVnaW9uX3VybCI6{}_{}", g.an(30), g.an(43)), "sntrys_xxxxxxxxxx"),
        case("sentry-user-token", format!("SENTRY_TOKEN=sntryu_{}", g.hex(64)), format!("sntryu_{}", "0".repeat(64))),
        case("grafana-cloud-api-token", format!("loki_key: glc_{}", g.pick(BASE64, 60)), format!("API_KEY=\"glc_{}=\"", "1".repeat(40))),
        case("grafana-service-account-token", format!("'Authorization': 'Bearer glsa_{}_{}'", g.an(32), g.hex(8)), format!("glsa_{}_AAAAAAAA", "X".repeat(32))),
        case("grafana-api-key", format!("GRAFANA_KEY=eyJrIjoi{}", g.an(80)), "eyJrIjoishort"),
        case("postman-api-token", format!("POSTMAN_API_KEY=PMAK-{}-{}", g.hex(24), g.hex(34)), "PMAK-short"),
        case("linear-api-key", format!("LINEAR_API_KEY=lin_api_{}", g.an(40)), format!("lin_api_{}", "x".repeat(40))),
        case("notion-api-token", format!("NOTION_TOKEN=ntn_{}{}", g.pick(DIGITS, 11), g.an(35)), "ntn_12345678901"),
        case("octopus-deploy-api-key", format!("set apikey=\"API-{}\"", g.pick(UPPER, 26)), "msgstr \"GSSAPI-VIRHEKAPSELOINTIMERKKIJONO.\""),
        case("buildkite-api-token", format!("BUILDKITE_API_TOKEN=bkua_{}", g.hex(40)), format!("bkua_{}", "0".repeat(40))),
        case("new-relic-api-key", format!("NEW_RELIC_API_KEY=NRAK-{}", g.pick(UPPER, 27)), "NRAK-short"),
        case("okta-access-token", format!("OKTA_API_TOKEN=00{}", g.an(40)), "oktaKey = 00000000000000000000000000000000000TUVWXYZ"),
        case("intra42-client-secret", format!("secret: s-s4t2ud-{}", g.hex(64)), "s-s4t2ud-short"),
    ]
}

fn generic(g: &mut Gen) -> Vec<Case> {
    let pem = g.pem_lines(6);
    let putty = format!(
        "PuTTY-User-Key-File-2: ssh-rsa\nEncryption: none\nComment: deploy\nPublic-Lines: 2\n{}\nPrivate-Lines: 2\n{}\nPrivate-MAC: {}\n",
        g.pem_lines(2),
        g.pem_lines(2),
        g.hex(40)
    );
    vec![
        case("private-key", format!("-----BEGIN RSA PRIVATE KEY-----\n{pem}\n-----END RSA PRIVATE KEY-----\n"), format!("-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n", g.pem_lines(4))),
        case("putty-private-key", putty, "PuTTY-User-Key-File-2: ssh-rsa\nPrivate-Lines: 1\nAAAA\n"),
        case("jwt", format!("Authorization: Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ{}.{}", g.an(40), g.an(43)), "eyJhbGciOi.eyJzdWIi is truncated"),
        case("age-secret-key", format!("AGE-SECRET-KEY-1{}", g.pick(AGE, 58)), "AGE-SECRET-KEY-1..."),
        case("1password-secret-key", format!("A3-{}-{}-{}-{}-{}", g.pick(UPPER, 6), g.pick(UPPER, 11), g.pick(UPPER, 5), g.pick(UPPER, 5), g.pick(UPPER, 5)), "A3-XXXXXX-XXXXXXXXXXX-XXXXX-XXXXX-XXXXX"),
        case("1password-service-account-token", format!("OP_SERVICE_ACCOUNT_TOKEN=ops_eyJ{}", g.pick(BASE64, 300)), format!("ops_eyJ{}", "x".repeat(300))),
        case("kubernetes-secret-yaml", format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ntype: Opaque\ndata:\n  password: {}\n", g.pick(BASE64, 24)), "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ntype: Opaque\ndata:\n  password: \"\"\n"),
        case("database-url-password", format!("DATABASE_URL=postgres://app:{}@db.internal:5432/app", g.an(16)), "DATABASE_URL=postgres://postgres:postgres@localhost/app"),
        case("broker-url-password", format!("BROKER=amqp://svc:{}@rabbit:5672/", g.an(16)), "BROKER=amqp://guest:guest@localhost:5672/"),
        case("url-basic-auth", format!("remote = https://deploy:{}@git.acme-corp.dev/repo.git", g.an(16)), "remote = https://abc:xyz@example.com/repo.git"),
        case("url-query-secret", format!("GET https://api.example.org/v1/items?limit=5&api_key={}", g.an(32)), "GET https://api.example.org/v1/items?limit=5&api_key=${API_KEY}"),
        case("curl-basic-auth", format!("curl -u admin:{} https://example.org/api", g.an(14)), "curl -u \"$USER:$PASS\" https://example.org/api"),
        case("authorization-header", format!("curl -H \"Authorization: Bearer {}\" https://example.org", g.an(40)), "curl -H \"Authorization: Bearer $TOKEN\" https://example.org"),
        case("api-key-header", format!("curl -H \"X-Api-Key: {}\" https://example.org", g.an(32)), "curl -H \"X-Api-Key: <your key>\" https://example.org"),
        case("nuget-config-password", format!("<add key=\"ClearTextPassword\" value=\"{}\" />", g.an(16)), "<add key=\"ClearTextPassword\" value=\"%NUGET_PASSWORD%\" />"),
        case("generic-secret-key", format!("SECRET_KEY = \"{}\"", g.an(40)), "SECRET_KEY = os.environ[\"SECRET_KEY\"]"),
        case("generic-api-key", format!("api_key: {}", g.an(32)), "api_key: your_api_key_here"),
        case("generic-password", format!("password = \"{}!\"", g.an(12)), "password=password"),
        case("generic-token", format!("auth_token: \"{}\"", g.an(40)), "max_tokens: 4096"),
    ]
}

fn saas(g: &mut Gen) -> Vec<Case> {
    vec![
        case(
            "slack-bot-token",
            format!(
                "SLACK_BOT_TOKEN=xoxb-{}-{}-{}",
                g.pick(DIGITS, 12),
                g.pick(DIGITS, 13),
                g.pick(LETTERS, 24)
            ),
            "xoxb-xxxxxxxxx-xxxxxxxxxx-xxxxxxxxxxxx",
        ),
        case(
            "slack-legacy-bot-token",
            format!(
                "\"bot_token\": \"xoxb-{}-{}\"",
                g.pick(DIGITS, 12),
                g.pick(LETTERS, 24)
            ),
            "xoxb-12345-abcd234",
        ),
        case(
            "slack-user-token",
            format!(
                "xoxp-{}-{}-{}-{}",
                g.pick(DIGITS, 11),
                g.pick(DIGITS, 11),
                g.pick(DIGITS, 11),
                g.hex(32)
            ),
            "xoxp-XXXXXXXXXX-XXXXXXXXXX-XXXXXXXXXXX-XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
        ),
        case(
            "slack-app-token",
            format!(
                "SLACK_APP_TOKEN=xapp-1-A{}-{}-{}",
                g.pick(UPPER, 10),
                g.pick(DIGITS, 13),
                g.hex(64)
            ),
            "xapp-1-x",
        ),
        case(
            "slack-config-access-token",
            format!("xoxe.xoxp-1-{}", g.an(164)),
            "xoxe.xoxp-1-initial",
        ),
        case(
            "slack-config-refresh-token",
            format!("xoxe-1-{}", g.an(146)),
            "xoxe-1-xxx",
        ),
        case(
            "slack-legacy-token",
            format!(
                "xoxs-{}-{}-{}-{}",
                g.pick(DIGITS, 10),
                g.pick(DIGITS, 10),
                g.pick(DIGITS, 10),
                g.hex(10)
            ),
            "xoxs-abc",
        ),
        case(
            "slack-legacy-workspace-token",
            format!("xoxa-2-{}", g.an(20)),
            "https://github.com/xoxa-nyc/xoxa-nyc.github.io",
        ),
        case(
            "slack-webhook-url",
            format!(
                "https://hooks.slack.com/services/T{}/B{}/{}",
                g.pick(UPPER, 8),
                g.pick(UPPER, 8),
                g.an(24)
            ),
            "https://hooks.slack.com/services/...",
        ),
        case(
            "stripe-secret-key",
            format!("stripe.api_key = \"sk_live_{}\"", g.an(24)),
            format!("publishable = \"pk_live_{}\"", g.an(24)),
        ),
        case(
            "stripe-webhook-secret",
            format!("STRIPE_WEBHOOK_SECRET=whsec_{}", g.an(32)),
            format!("whsec_{}", "x".repeat(32)),
        ),
        case(
            "square-access-token",
            format!("SQUARE_TOKEN=sq0atp-{}", g.an(22)),
            format!("sq0atp-{}", "x".repeat(22)),
        ),
        case(
            "twilio-api-key",
            format!("TWILIO_API_KEY=SK{}", g.hex(32)),
            format!("TWILIO_ACCOUNT_SID=AC{}", g.hex(32)),
        ),
        case(
            "sendgrid-api-token",
            format!("SENDGRID_API_KEY=SG.{}.{}", g.an(22), g.an(43)),
            "SG.xxxx",
        ),
        case(
            "mailgun-api-key",
            format!("MAILGUN_API_KEY=key-{}", g.hex(32)),
            "MAILGUN_DOMAIN=mg.example.org",
        ),
        case(
            "mailchimp-api-key",
            format!("MAILCHIMP_API_KEY={}-us6", g.hex(32)),
            format!("MailchimpSDK.initialize(token: {}-us18)", g.hex(32)),
        ),
        case(
            "sendinblue-api-token",
            format!("BREVO_KEY=xkeysib-{}-{}", g.hex(64), g.an(16)),
            "xkeysib-short",
        ),
        case(
            "easypost-api-token",
            format!("EASYPOST=EZAK{}", g.an(54)),
            format!("EZAK{}", "X".repeat(54)),
        ),
        case(
            "shopify-access-token",
            format!("SHOPIFY_TOKEN=shpat_{}", g.hex(32)),
            format!("shpat_{}", "0".repeat(32)),
        ),
        case(
            "telegram-bot-token",
            format!("TELEGRAM_BOT_TOKEN={}:AA{}", g.pick(DIGITS, 9), g.an(33)),
            "at 12:AA sharp",
        ),
        case(
            "discord-webhook-url",
            format!(
                "https://discord.com/api/webhooks/{}/{}",
                g.pick(DIGITS, 18),
                g.an(68)
            ),
            "https://discord.com/api/webhooks/{id}/{token}",
        ),
        case(
            "microsoft-teams-webhook",
            format!(
                "https://acme.webhook.office.com/webhookb2/{}@{}/IncomingWebhook/{}/{}",
                g.uuid(),
                g.uuid(),
                g.hex(32),
                g.uuid()
            ),
            "https://acme.webhook.office.com/webhookb2/",
        ),
        case(
            "facebook-secret",
            format!("FACEBOOK_APP_SECRET={}", g.hex(32)),
            "FACEBOOK_APP_ID=1234567890",
        ),
        case(
            "facebook-access-token",
            format!("facebook app token: {}|{}", g.pick(DIGITS, 15), g.an(27)),
            "facebook 123|abc",
        ),
        case(
            "facebook-page-access-token",
            format!("FB_PAGE_TOKEN=EAAC{}", g.an(120)),
            "EAACshort",
        ),
        case(
            "hubspot-api-key",
            format!("HUBSPOT_API_KEY={}", g.uuid()),
            "HUBSPOT_PORTAL_ID=12345",
        ),
        case(
            "messagebird-api-token",
            format!("MESSAGEBIRD_API_KEY={}", g.an(25)),
            "MESSAGEBIRD_ORIGINATOR=Acme",
        ),
        case(
            "sumologic-access-id",
            format!("SUMO_ACCESS_ID=su{}", g.an(12)),
            format!("sumObj = su{}", g.an(12)),
        ),
        case(
            "sumologic-access-token",
            format!("SUMO_ACCESS_KEY={}", g.an(64)),
            "SUMO_ACCESS_KEY={SumoAccessKey}",
        ),
        case(
            "maxmind-license-key",
            format!("MAXMIND_LICENSE_KEY={}_{}_mmk", g.an(6), g.an(29)),
            "MAXMIND_LICENSE_KEY=abc_mmk",
        ),
        case(
            "cisco-meraki-api-key",
            format!("MERAKI_DASHBOARD_API_KEY={}", g.hex(40)),
            "meraki: aaaaaaaaaa1111111111bbbbbbbbbb2222222222",
        ),
        case(
            "sidekiq-secret",
            format!(
                "BUNDLE_ENTERPRISE__CONTRIBSYS__COM={}:{}",
                g.hex(8),
                g.hex(8)
            ),
            "BUNDLE_ENTERPRISE__CONTRIBSYS__COM=${SIDEKIQ_CREDS}",
        ),
        case(
            "sidekiq-sensitive-url",
            format!(
                "source \"https://{}:{}@gems.contribsys.com/\"",
                g.hex(8),
                g.hex(8)
            ),
            "source \"https://gems.contribsys.com/\"",
        ),
        case(
            "mapbox-secret-token",
            format!("MAPBOX_TOKEN=sk.eyJ{}.{}", g.an(60), g.an(22)),
            format!("MAPBOX_PUBLIC=pk.eyJ{}.{}", g.an(60), g.an(22)),
        ),
    ]
}

/// Returns every case, and every fake secret the generator made.
fn cases() -> (Vec<Case>, Vec<String>) {
    let mut g = Gen::new();
    let mut all = ai(&mut g);
    all.extend(cloud(&mut g));
    all.extend(dev(&mut g));
    all.extend(generic(&mut g));
    all.extend(saas(&mut g));
    (all, g.made)
}

#[test]
fn every_builtin_rule_has_a_case() {
    let scanner = Scanner::builtin();
    let (cases, _) = cases();
    let missing: Vec<&str> = scanner
        .rule_ids()
        .filter(|id| !cases.iter().any(|c| c.rule == *id))
        .collect();
    assert!(missing.is_empty(), "rules without a test case: {missing:?}");
    assert!(scanner.rule_count() >= 40);
}

#[test]
fn each_rule_catches_its_secret_and_names_itself() {
    let scanner = Scanner::builtin();
    let (cases, _) = cases();
    let failed: Vec<String> = cases
        .iter()
        .filter_map(|case| {
            let findings = scanner.scan_text("case.txt", &case.hit);
            let ids: Vec<&str> = findings.iter().map(|f| f.rule_id.as_str()).collect();
            (ids != [case.rule]).then(|| format!("{}: got {ids:?}", case.rule))
        })
        .collect();
    assert!(
        failed.is_empty(),
        "secrets not caught by their rule: {failed:#?}"
    );
}

#[test]
fn each_rule_lets_its_lookalike_through() {
    let scanner = Scanner::builtin();
    let (cases, _) = cases();
    let failed: Vec<String> = cases
        .iter()
        .filter_map(|case| {
            let findings = scanner.scan_text("case.txt", &case.miss);
            let ids: Vec<&str> = findings.iter().map(|f| f.rule_id.as_str()).collect();
            (!ids.is_empty()).then(|| format!("{}: flagged by {ids:?}", case.rule))
        })
        .collect();
    assert!(failed.is_empty(), "look-alikes flagged: {failed:#?}");
}

#[test]
fn findings_never_hold_the_secret() {
    let scanner = Scanner::builtin();
    let (cases, made) = cases();
    let secrets: Vec<&String> = made.iter().filter(|s| s.len() >= 8).collect();
    for case in &cases {
        for finding in scanner.scan_text("case.txt", &case.hit) {
            let json = serde_json::to_string(&finding).unwrap_or_default();
            let shown = format!("{finding:?} {json}");
            for secret in &secrets {
                assert!(
                    !shown.contains(secret.as_str()),
                    "{}: finding shows a secret",
                    case.rule
                );
            }
            let kept = finding.redacted.trim_end_matches('*');
            assert!(
                kept.chars().count() <= 4,
                "{}: redaction keeps {kept:?}",
                case.rule
            );
        }
    }
}
