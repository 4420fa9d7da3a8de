//! Built-in rules for developer platforms: source hosting, package registries, CI, code
//! quality and observability services.

use super::checks;
use super::generic;
use super::rule::{assign, def, glued, token, Def, UUID};

/// Returns the built-in rules of developer platforms.
pub(crate) fn rules() -> Vec<Def> {
    let mut rules = source_hosting();
    rules.extend(registries());
    rules.extend(tooling());
    rules.extend(services());
    rules
}

fn source_hosting() -> Vec<Def> {
    vec![
        def("github-pat", "GitHub personal access token (classic)", glued(r"ghp_[0-9A-Za-z]{36}"), &["ghp_"])
            .entropy(3.0),
        def(
            "github-fine-grained-pat",
            "GitHub fine-grained personal access token",
            glued(r"github_pat_[0-9A-Za-z_]{82}"),
            &["github_pat_"],
        )
        .entropy(3.0),
        def("github-oauth", "GitHub OAuth access token", glued(r"gho_[0-9A-Za-z]{36}"), &["gho_"])
            .entropy(3.0),
        def(
            "github-app-token",
            "GitHub App user-to-server or server-to-server token",
            glued(r"gh[us]_[0-9A-Za-z]{36}"),
            &["ghu_", "ghs_"],
        )
        .entropy(3.0),
        def(
            "github-refresh-token",
            "GitHub refresh token",
            glued(r"ghr_[0-9A-Za-z]{36}"),
            &["ghr_"],
        )
        .entropy(3.0),
        def(
            "gitlab-pat",
            "GitLab personal access token",
            glued(r"glpat-[0-9A-Za-z_\-]{20,300}(?:\.[0-9a-z]{9})?"),
            &["glpat-"],
        )
        .entropy(3.0),
        def(
            "gitlab-pipeline-trigger-token",
            "GitLab pipeline trigger token",
            glued(r"glptt-[0-9a-f]{40}"),
            &["glptt-"],
        )
        .entropy(3.0),
        def(
            "gitlab-runner-registration-token",
            "GitLab runner registration token",
            glued(r"GR1348941[\w\-]{20}"),
            &["gr1348941"],
        )
        .entropy(3.0),
        def(
            "gitlab-runner-token",
            "GitLab runner authentication token",
            glued(r"glrt-(?:t\d_)?[0-9A-Za-z_\-]{20,300}(?:\.[0-9a-z]{9})?"),
            &["glrt-"],
        )
        .entropy(3.0),
        def(
            "gitlab-token",
            "GitLab deploy, feed, mail, agent, OAuth, CI job, SCIM or feature-flag token",
            glued(
                r"(?:gldt|glft|glsoat|glffct)-[0-9A-Za-z_\-]{20}|glimt-[0-9A-Za-z_\-]{25}|glagent-[0-9A-Za-z_\-]{50}|gloas-[0-9A-Za-z_\-]{64}|glcbt-[0-9A-Za-z]{1,5}_[0-9A-Za-z_\-]{20}",
            ),
            &["gldt-", "glft-", "glsoat-", "glffct-", "glimt-", "glagent-", "gloas-", "glcbt-"],
        )
        .entropy(3.0),
        def(
            "bitbucket-app-password",
            "Bitbucket / Atlassian app password",
            glued(r"ATBB[A-Za-z0-9_=.\-]{32}"),
            &["atbb"],
        )
        .entropy(3.5),
        def(
            "atlassian-api-token",
            "Atlassian (Jira, Confluence) API token",
            format!(
                "{}|{}",
                glued(r"ATATT3[A-Za-z0-9_\-=]{186}"),
                assign(
                    r"(?-i:ATLASSIAN|[Aa]tlassian|CONFLUENCE|[Cc]onfluence|JIRA|[Jj]ira)",
                    r"[A-Za-z0-9]{24}"
                )
            ),
            &["atatt3", "atlassian", "confluence", "jira"],
        )
        .entropy(3.5)
        .check(checks::with_digit),
    ]
}

fn registries() -> Vec<Def> {
    vec![
        def("npm-access-token", "npm access token", glued(r"npm_[A-Za-z0-9]{36}"), &["npm_"])
            .entropy(3.0),
        def(
            "npmrc-auth-token",
            "Registry credential in an .npmrc file (_authToken, _auth, _password)",
            r#"(?:^[ \t]*|:)(?i:_auth(?:Token)?|_password)[ \t]*=[ \t]*["']?([A-Za-z0-9_+/=.\-]{16,})"#,
            &["_auth", "_password"],
        )
        .entropy(3.0)
        .check(generic::header_value),
        def(
            "pypi-upload-token",
            "PyPI or TestPyPI upload token",
            r"(pypi-(?:AgEIcHlwaS5vcmc|AgENdGVzdC5weXBpLm9yZw)[\w\-]{50,1000})",
            &["pypi-ageichlwas5vcmc", "pypi-agendgvzdc5wexbplm9yzw"],
        )
        .entropy(3.0),
        def("rubygems-api-token", "RubyGems API token", glued(r"rubygems_[a-f0-9]{48}"), &["rubygems_"])
            .entropy(3.0),
        def("nuget-api-key", "NuGet.org API key", token(r"oy2[a-z0-9]{43}"), &["oy2"]).entropy(3.5),
        def(
            "clojars-api-token",
            "Clojars deploy token",
            r"\b((?i:CLOJARS_)[a-z0-9]{60})\b",
            &["clojars_"],
        )
        .entropy(2.0),
        def(
            "jfrog-api-key",
            "JFrog Artifactory API key",
            glued(r"AKCp[A-Za-z0-9]{69}"),
            &["akcp"],
        )
        .entropy(4.5),
    ]
}

fn tooling() -> Vec<Def> {
    vec![
        def(
            "sonar-api-token",
            "SonarQube / SonarCloud token",
            format!(
                "{}|{}",
                token(r"sq[uap]_[a-f0-9]{40}"),
                assign(r"sonar[_.\-]?(?:login|token)", r"(?:sq[uap]_)?[A-Za-z0-9]{40}")
            ),
            &["sonar", "squ_", "sqa_", "sqp_"],
        )
        .entropy(3.0),
        def(
            "snyk-api-token",
            "Snyk API token assigned to a snyk name",
            assign(r"snyk[_.\-]?(?:(?:api|oauth)[_.\-]?)?(?:key|token)", UUID),
            &["snyk"],
        ),
        def(
            "sourcegraph-access-token",
            "Sourcegraph access token",
            format!(
                "{}|{}",
                token(r"sgp_(?:[a-fA-F0-9]{16}|local)_[a-fA-F0-9]{40}|sgp_[a-fA-F0-9]{40}"),
                assign("sourcegraph", r"[a-fA-F0-9]{40}")
            ),
            &["sgp_", "sourcegraph"],
        )
        .entropy(3.0),
        def(
            "sentry-org-token",
            "Sentry organization auth token",
            r"(sntrys_eyJpYXQiO[A-Za-z0-9+/]{10,200}(?:LCJyZWdpb25fdXJs|InJlZ2lvbl91cmwi|cmVnaW9uX3VybCI6)[A-Za-z0-9+/]{10,200}={0,2}_[A-Za-z0-9+/]{43})(?:[^A-Za-z0-9+/]|$)",
            &["sntrys_eyjpyxqio"],
        )
        .entropy(4.5),
        def(
            "sentry-user-token",
            "Sentry user auth token",
            glued(r"sntryu_[a-f0-9]{64}"),
            &["sntryu_"],
        )
        .entropy(3.5),
        def(
            "grafana-cloud-api-token",
            "Grafana Cloud API token",
            glued(r"glc_[A-Za-z0-9+/]{32,400}={0,3}"),
            &["glc_"],
        )
        .entropy(3.0),
        def(
            "grafana-service-account-token",
            "Grafana service account token",
            glued(r"glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}"),
            &["glsa_"],
        )
        .entropy(3.0),
        def(
            "grafana-api-key",
            "Grafana API key",
            glued(r"eyJrIjoi[A-Za-z0-9]{70,400}={0,3}"),
            &["eyjrijoi"],
        )
        .entropy(3.0),
    ]
}

fn services() -> Vec<Def> {
    vec![
        def(
            "postman-api-token",
            "Postman API key",
            glued(r"PMAK-[a-fA-F0-9]{24}-[a-fA-F0-9]{34}"),
            &["pmak-"],
        )
        .entropy(3.0),
        def(
            "linear-api-key",
            "Linear API key",
            glued(r"lin_api_[A-Za-z0-9]{40}"),
            &["lin_api_"],
        )
        .entropy(3.0),
        def(
            "notion-api-token",
            "Notion integration token",
            token(r"ntn_[0-9]{11}[A-Za-z0-9]{35}|secret_[A-Za-z0-9]{43}"),
            &["ntn_", "secret_"],
        )
        .entropy(4.0),
        def(
            "octopus-deploy-api-key",
            "Octopus Deploy API key",
            token(r"API-[A-Z0-9]{26}"),
            &["api-"],
        )
        .entropy(3.0),
        def(
            "buildkite-api-token",
            "Buildkite API access token",
            glued(r"bkua_[a-f0-9]{40}"),
            &["bkua_"],
        )
        .entropy(3.0),
        def(
            "new-relic-api-key",
            "New Relic user API key or insert key",
            glued(r"NRAK-[A-Z0-9]{27}|NRII-[A-Za-z0-9\-]{32}"),
            &["nrak-", "nrii-"],
        )
        .entropy(3.0),
        def(
            "okta-access-token",
            "Okta API token assigned to an okta name",
            assign(r"(?-i:[Oo]kta|OKTA)", r"00[\w=\-]{40}"),
            &["okta"],
        )
        .entropy(4.0),
        def(
            "intra42-client-secret",
            "42 intra client secret",
            glued(r"s-s4t2(?:ud|af)-[a-f0-9]{64}"),
            &["s-s4t2ud-", "s-s4t2af-"],
        )
        .entropy(3.0),
    ]
}
