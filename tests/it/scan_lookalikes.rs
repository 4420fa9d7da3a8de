//! Look-alikes that must never be reported: environment lookups, template placeholders,
//! documented example keys, hashes, UUIDs, token counts, parameter passing and public keys.

use artifact_store::scan::Scanner;

const ENV_LOOKUPS: &str = r#"
api_key = os.environ["OPENAI_API_KEY"]
api_key = os.getenv("OPENAI_API_KEY")
token = os.environ.get("HF_TOKEN", "")
SECRET_KEY = env("DJANGO_SECRET_KEY")
password = getpass.getpass()
auth_token = settings.AUTH_TOKEN
export API_KEY=${API_KEY}
export GITHUB_TOKEN=$GH_TOKEN
token: ${{ secrets.GITHUB_TOKEN }}
password: "{{ vault_db_password }}"
api_key: {{ .Values.apiKey }}
const apiKey = process.env.API_KEY;
const token = process.env.GITHUB_TOKEN || "";
headers = {"Authorization": f"Bearer {token}"}
fetch(url, { headers: { Authorization: `Bearer ${token}` } })
secret_key = ENV["SECRET_KEY_BASE"]
DB_PASSWORD=%DB_PASSWORD%
"#;

const PLACEHOLDERS: &str = r#"
API_KEY=<YOUR_KEY>
OPENAI_API_KEY=<your-openai-api-key>
api_key = "your_api_key_here"
SECRET_KEY=REDACTED
DB_PASSWORD=changeme
password: "********"
token: xxxxxxxxxxxxxxxxxxxxxxxx
api_key = "example-api-key-123456"
api_key = "dummy_key_for_tests_1"
client_secret = "replace-me-with-real-secret"
password = "test"
password = "password123"
access_token = "ACCESS_TOKEN"
AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE
AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
GITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
STRIPE_KEY=sk_test_xxxxxxxxxxxxxxxxxxxxxxxx
"#;

const HASHES_IDS_COUNTS: &str = r#"
commit: 9fceb02d0ae598e95dc970b74767f19372d61af8
"checksums": {"out/report.html": "sha256:3b1f5c0e2d4a6b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e"}
checksum = "sha256:aa1f5c0e2d4a6b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6f"
etag: "33a64df551425fcc55e4d42a148795d9f25f89d4"
integrity: sha512-z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg==
request_id = "0f8fad5b-d9cb-469f-a165-70867728950e"
token = "0f8fad5b-d9cb-469f-a165-70867728950e"
api_key_id: 7d444840-9dc0-11d1-b245-5ffdce74fad2
max_tokens: 4096
"max_tokens": 4096,
tokens=512
num_tokens = 1024
token_limit: 8192
prompt_tokens: 1834
next_token: eyJsYXN0IjogMTIzNH0
password_hash = "$2b$12$KIXQJ1hN6mBn9iI2wA8pY.0vZ3QeFh5Y6lH7yQ2uD0s1rT4cV8eXa"
"#;

const PARAMETERS: &str = r#"
def login(username, password=password):
    return connect(user=username, password=password, token=token)
client = Client(api_key=api_key, token=token)
self.secret_key = secret_key
password: str = ""
token: Optional[str] = None
let api_key = config.api_key.clone();
if token == "":
"#;

const PUBLIC_KEYS: &str = r#"
-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu1SU1LfVLPHCozMxH2Mo
4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u
-----END PUBLIC KEY-----
ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7vbqajDhA2oFqV3d8mG1xQh2N4kP9sWm5TtZy ci@build
ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl ci@build
public_key = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
publishable_key: pk_live_51H8kJ2LkQ9vXzYbA3cD4eF5gH6iJ7kL8mN9oP0qR1sT2uV3wX
-----BEGIN CERTIFICATE-----
MIIDdzCCAl+gAwIBAgIEAgAAuTANBgkqhkiG9w0BAQUFADBaMQswCQYDVQQGEwJJ
-----END CERTIFICATE-----
"#;

fn assert_clean(name: &str, text: &str) {
    let scanner = Scanner::builtin();
    let flagged: Vec<String> = scanner
        .scan_text(name, text)
        .iter()
        .map(|f| format!("{} line {}", f.rule_id, f.line))
        .collect();
    assert!(flagged.is_empty(), "{name}: flagged {flagged:?}");
}

#[test]
fn environment_lookups_are_not_secrets() {
    assert_clean("env.py", ENV_LOOKUPS);
}

#[test]
fn placeholders_and_documented_examples_are_not_secrets() {
    assert_clean("placeholders.env", PLACEHOLDERS);
}

#[test]
fn hashes_uuids_and_token_counts_are_not_secrets() {
    assert_clean("metrics.yaml", HASHES_IDS_COUNTS);
}

#[test]
fn parameter_passing_is_not_a_secret() {
    assert_clean("client.py", PARAMETERS);
}

#[test]
fn public_keys_are_not_secrets() {
    assert_clean("keys.txt", PUBLIC_KEYS);
}

#[test]
fn the_same_names_with_real_values_are_secrets() {
    let scanner = Scanner::builtin();
    for line in [
        "api_key = \"Zf3D0LXCM3EIMbgJpUNnkRtOfOueHznB\"",
        "export API_KEY=Zf3D0LXCM3EIMbgJpUNnkRtOfOueHznB",
        "token: Zf3D0LXCM3EIMbgJpUNnkRtOfOueHznB",
        "password: \"Tr0ub4dor&3-horse\"",
        "SECRET_KEY = 'k8#Qz!v2mP9@xL4wR7tY'",
    ] {
        assert!(
            !scanner.scan_text("f", line).is_empty(),
            "{line} not flagged"
        );
    }
}
