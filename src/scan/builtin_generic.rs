//! Built-in rules for formats not tied to one provider: private keys, JWTs, credentials
//! in URLs, headers and `curl -u`, Kubernetes secrets, and generic assignments.

use super::checks::{self, Candidate};
use super::generic;
use super::rule::{def, Def, Window};

/// The operators of generic assignments, longest first; `: Type =` covers annotations.
/// Call arguments (`setProperty("TOKEN", "...")`) have their own form: a quoted name, a
/// comma and a quoted value.
const OPS: &str = r"(?:\|\|=|:::=|::=|:=|=>|\?=|\.=|:[ \t]*[A-Za-z_][\w.\[\]]*[ \t]*=|=|:)";

/// The value of a generic assignment: quoted (escaped quotes allowed) or bare.
const VALUE: &str = r#"\\?"(?P<dq>[^"\\\s]{@MIN@,})\\?"|'(?P<sq>[^'\\\s]{@MIN@,})'|\x60(?P<bq>[^\x60\\\s]{@MIN@,})\x60|(?P<uq>[A-Za-z0-9_.~+/=@!#%^*\-]{@MIN@,})(?:[\s;,'"\x60]|\\[nrt]|$)"#;

/// Returns the regex of a generic assignment to a name containing `keyword` (a regex):
/// `name <op> value`, the XML form `<name>value</name>`, or the call-argument form
/// `"NAME", "value"`.
fn assignment(keyword: &str, min: usize) -> String {
    let template = concat!(
        r#"(?:^|[^\w.\-])\$?(?P<ident>(?i:[\w.\-]*?(?:@KW@)[\w.\-]*))(?:\\?["'\x60\]])?"#,
        r"(?:[ \t]+(?:string|str|bytes|char|const|final|var|let|String|SecretStr))?[ \t]*",
        r"@OPS@[ \t]*(?:@VALUE@)",
        r"|<(?P<ident2>(?i:[\w.\-]*?(?:@KW@)[\w.\-]*))>\s*(?P<xv>[^<\s]{@MIN@,})\s*</",
        r#"|["'](?P<ident3>(?i:[\w.\-]*?(?:@KW@)[\w.\-]*))["'][ \t]*,[ \t]*(?:"(?P<cdq>[^"\\\s]{@MIN@,})"|'(?P<csq>[^'\\\s]{@MIN@,})')"#,
    );
    template
        .replace("@OPS@", OPS)
        .replace("@VALUE@", VALUE)
        .replace("@KW@", keyword)
        .replace("@MIN@", &min.to_string())
}

/// Keeps PEM bodies with at least 64 base64 characters.
fn pem_body(c: &Candidate<'_>) -> bool {
    let body = c.secret.replace("\\n", "").replace("\\r", "");
    body.bytes()
        .filter(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
        .count()
        >= 64
}

/// Keeps Kubernetes secret values that do not span two YAML documents.
fn kubernetes(c: &Candidate<'_>) -> bool {
    !c.matched.contains("\n---") && checks::plain(c)
}

/// Keeps NuGet passwords that are not `%VARIABLE%` references nor placeholders.
fn nuget(c: &Candidate<'_>) -> bool {
    let variable = c.secret.starts_with('%') && c.secret.ends_with('%');
    checks::plain(c) && !variable
}

/// Returns the built-in rules of generic formats.
pub(crate) fn rules() -> Vec<Def> {
    let mut rules = keys_and_tokens();
    rules.extend(credentials());
    rules.extend(assignments());
    rules
}

fn keys_and_tokens() -> Vec<Def> {
    vec![
        def(
            "private-key",
            "Private key in PEM or PGP armour (RSA, EC, DSA, OpenSSH, PKCS#8, encrypted), also inside JSON strings",
            concat!(
                r"-----BEGIN[ A-Z0-9_\-]{0,100}PRIVATE KEY(?: BLOCK)?-----(?:\s|\\[rn])*",
                // Armour headers (Proc-Type, DEK-Info, Version, Comment) before the body.
                r"(?:[A-Za-z][A-Za-z\-]*:[^\n\\]*(?:\r?\n|\\r\\n|\\n)(?:\s|\\[rn])*)*",
                r"((?:[A-Za-z0-9+/=:,.()\-]|\s|\\[rn])*?)-----END[ A-Z0-9_\-]{0,100}PRIVATE KEY(?: BLOCK)?-----",
            ),
            &["-----begin"],
        )
        .window(Window::block(0, 400))
        .check(pem_body),
        def(
            "putty-private-key",
            "PuTTY private key file",
            r"PuTTY-User-Key-File-[23]:(?:[^\n]*\n){1,24}?Private-Lines:[ \t]*\d+\r?\n([A-Za-z0-9+/=\r\n]{64,})",
            &["putty-user-key-file"],
        )
        .window(Window::block(0, 60)),
        def(
            "jwt",
            "JSON Web Token",
            r"\b(ey[A-Za-z0-9_\-]{17,}\.ey[A-Za-z0-9_/\\\-]{17,}\.(?:[A-Za-z0-9_/\\\-]{10,}={0,2})?)(?:[\x60'\x22\s;,<>&)\]}]|\\[nrt]|$)",
            &["eyj"],
        )
        .entropy(3.0),
        def(
            "age-secret-key",
            "age encryption secret key",
            r"\b(AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58})\b",
            &["age-secret-key-1"],
        )
        // The key alphabet makes long runs of one letter legitimate: no placeholder check.
        .check(checks::any),
        def(
            "1password-secret-key",
            "1Password account secret key",
            r"\b(A3-[A-Z0-9]{6}-(?:[A-Z0-9]{11}|[A-Z0-9]{6}-[A-Z0-9]{5})-[A-Z0-9]{5}-[A-Z0-9]{5}-[A-Z0-9]{5})\b",
            &["a3-"],
        )
        .entropy(3.8),
        def(
            "1password-service-account-token",
            "1Password service account token",
            r"\b(ops_eyJ[A-Za-z0-9+/]{250,}={0,3})",
            &["ops_"],
        )
        .entropy(4.0),
        def(
            "kubernetes-secret-yaml",
            "Data value of a Kubernetes Secret manifest",
            concat!(
                r#"(?i)\bkind:[ \t]*["']?secret\b["']?(?s:.){0,200}?\bdata:(?s:.){0,100}?\s[\w.\-]+:(?:[ \t]*(?:\||>[\-+]?)\s+)?[ \t]*["']?([a-z0-9+/]{10,}={0,3})["']?(?:\s|$)"#,
                r#"|\bdata:(?s:.){0,100}?\s[\w.\-]+:(?:[ \t]*(?:\||>[\-+]?)\s+)?[ \t]*["']?([a-z0-9+/]{10,}={0,3})["']?\s(?s:.){0,200}?\bkind:[ \t]*["']?secret\b"#,
            ),
            &["kind:"],
        )
        .window(Window::block(30, 30))
        .check(kubernetes),
    ]
}

fn credentials() -> Vec<Def> {
    vec![
        def(
            "database-url-password",
            "Database URL with an inline password (postgres, mysql, mongodb(+srv), redis, mssql, ...)",
            r#"(?i:\b(?:postgres(?:ql)?|mysql|mariadb|mongodb(?:\+srv)?|rediss?|mssql|sqlserver|cockroachdb|clickhouse|couchdb|neo4j(?:\+s)?|oracle)(?:\+\w+)?://)(?P<ident>[^:/\s@'"]*):([^@/\s'"]{3,})@"#,
            &["postgres", "mysql", "mariadb", "mongodb", "redis", "mssql", "sqlserver", "cockroachdb", "clickhouse", "couchdb", "neo4j", "oracle"],
        )
        .check(generic::credential),
        def(
            "broker-url-password",
            "Message broker URL with an inline password (amqp, mqtt, nats, kafka, stomp)",
            r#"(?i:\b(?:amqps?|mqtts?|nats|kafka|stomp)://)(?P<ident>[^:/\s@'"]*):([^@/\s'"]{3,})@"#,
            &["amqp", "mqtt", "nats", "kafka", "stomp"],
        )
        .check(generic::credential),
        def(
            "url-basic-auth",
            "URL with an inline user and password (http, ftp, ssh, git, smtp, ldap)",
            r#"(?i:\b(?:https?|ftps?|sftp|ssh|git|smtps?|ldaps?)://)(?P<ident>[^:/\s@'"]+):([^@/\s'"]{3,})@[\w.\-]+"#,
            &["://"],
        )
        .check(generic::credential),
        def(
            "url-query-secret",
            "Secret in a URL query string (?api_key=, &token=, &password=, ...)",
            r#"[?&](?P<ident>(?i:[\w.\-]*(?:key|token|secret|passw(?:or)?d|pwd|sig|signature|auth)[\w.\-]*))=([^&\s#"'<>\\]{8,})"#,
            &["key=", "token=", "secret=", "password=", "passwd=", "pwd=", "sig=", "signature=", "auth="],
        )
        .entropy(3.0)
        .check(generic::url_query),
        def(
            "curl-basic-auth",
            "Password passed to curl with -u / --user",
            r#"(?:^|\s)(?:-u|--user)(?:=|[ \t]{1,5})(?:["']?(?P<ident>[^\s:'"]*)["']?:["']?([^\s'"]+)["']?|"([^:"\s]{3,}):")"#,
            &["curl"],
        )
        .window(Window::block(0, 5))
        .check(generic::credential),
        def(
            "authorization-header",
            "Credential in an HTTP Authorization header (Bearer, Basic, Token or bare)",
            r#"(?i:\bAuthorization["']?[ \t]*[:=][ \t]*["']?[ \t]*)(?:(?i:Bearer|Token|Api-Token|Basic|Digest)[ \t]+)?([\w~+/=@.\-]{8,})(?:["'\s;,]|\\[nrt]|$)"#,
            &["authorization"],
        )
        .entropy(2.5)
        .check(generic::header_value),
        def(
            "api-key-header",
            "Credential in an API key or token header (X-Api-Key:, Api-Token:, Token:)",
            r#"["'](?i:(?:X-(?:[a-z]+-)*)?(?:Api-?)?(?:Key|Token)):[ \t]*([\w~+/=@.\-]{8,})["']"#,
            &["key:", "token:"],
        )
        .entropy(2.5)
        .check(generic::header_value),
        def(
            "nuget-config-password",
            "Clear-text password in a NuGet.Config package source",
            r#"(?i)<add\s+key="(?:ClearText)?Password"\s+value="([^"]{8,})"\s*/>"#,
            &["<add key="],
        )
        .check(nuget),
    ]
}

fn assignments() -> Vec<Def> {
    vec![
        def(
            "generic-secret-key",
            "Secret or private key assigned to a name such as secret_key or client_secret",
            assignment(r"secret|key", 12),
            &["secret", "key"],
        )
        .entropy(3.0)
        .check(generic::secret_key)
        .hit_filter(generic::follows_12)
        .generic(),
        def(
            "generic-api-key",
            "API key assigned to a name such as api_key or apikey",
            assignment(r"key", 12),
            &["key"],
        )
        .entropy(3.0)
        .check(generic::api_key)
        .hit_filter(generic::follows_12)
        .generic(),
        def(
            "generic-password",
            "Password assigned to a name such as password, passwd or pwd",
            assignment(r"pass|pwd", 6),
            &["pass", "pwd"],
        )
        .entropy(2.5)
        .check(generic::password)
        .hit_filter(generic::follows_6)
        .generic(),
        def(
            "generic-token",
            "Token or credential assigned to a name such as token, auth_token or credentials",
            assignment(r"token|auth|credential|creds|bearer", 12),
            &["token", "auth", "credential", "creds", "bearer"],
        )
        .entropy(3.0)
        .check(generic::token)
        .hit_filter(generic::follows_12)
        .generic(),
    ]
}
