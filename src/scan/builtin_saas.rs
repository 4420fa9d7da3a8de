//! Built-in rules for SaaS providers: messaging, payments, e-mail, social and business
//! services.

use super::rule::{assign, def, glued, token, Def, UUID};

/// Returns the built-in rules of SaaS providers.
pub(crate) fn rules() -> Vec<Def> {
    let mut rules = slack();
    rules.extend(payments_and_mail());
    rules.extend(business());
    rules.extend(business_apps());
    rules
}

fn slack() -> Vec<Def> {
    vec![
        def(
            "slack-bot-token",
            "Slack bot token",
            r"(xoxb-[0-9]{10,13}-[0-9]{10,13}[A-Za-z0-9\-]*)",
            &["xoxb"],
        )
        .entropy(3.0),
        def(
            "slack-legacy-bot-token",
            "Slack legacy bot token",
            r"(xoxb-[0-9]{8,14}-[A-Za-z0-9]{18,26})\b",
            &["xoxb"],
        )
        .entropy(2.0),
        def(
            "slack-user-token",
            "Slack user token",
            r"(xox[pe](?:-[0-9]{10,13}){3}-[A-Za-z0-9\-]{28,34})",
            &["xoxp-", "xoxe-"],
        )
        .entropy(2.0),
        def(
            "slack-app-token",
            "Slack app-level token",
            r"((?i:xapp)-\d-[A-Za-z0-9]+-\d+-[a-z0-9]+)",
            &["xapp"],
        )
        .entropy(2.0),
        def(
            "slack-config-access-token",
            "Slack configuration access token",
            r"((?i:xoxe\.xox[bp])-\d-[A-Za-z0-9]{163,166})",
            &["xoxe.xoxb-", "xoxe.xoxp-"],
        )
        .entropy(2.0),
        def(
            "slack-config-refresh-token",
            "Slack configuration refresh token",
            r"((?i:xoxe)-\d-[A-Za-z0-9]{146})",
            &["xoxe-"],
        )
        .entropy(2.0),
        def(
            "slack-legacy-token",
            "Slack legacy user or workspace token (xoxs, xoxo)",
            r"(xox[os]-\d+-\d+-\d+-[a-fA-F\d]+)",
            &["xoxo", "xoxs"],
        )
        .entropy(2.0),
        def(
            "slack-legacy-workspace-token",
            "Slack legacy workspace or refresh token (xoxa, xoxr)",
            r"(xox[ar]-(?:\d-)?[0-9A-Za-z]{8,48})",
            &["xoxa", "xoxr"],
        )
        .entropy(2.0),
        def(
            "slack-webhook-url",
            "Slack incoming webhook or workflow trigger URL",
            r"((?:https?://)?hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/]{43,56})",
            &["hooks.slack.com"],
        ),
    ]
}

fn payments_and_mail() -> Vec<Def> {
    vec![
        def(
            "stripe-secret-key",
            "Stripe secret or restricted key (live, test or prod)",
            glued(r"(?:sk|rk)_(?:test|live|prod)_[A-Za-z0-9]{10,99}"),
            &[
                "sk_test", "sk_live", "sk_prod", "rk_test", "rk_live", "rk_prod",
            ],
        )
        .entropy(2.0),
        def(
            "stripe-webhook-secret",
            "Stripe webhook signing secret",
            glued(r"whsec_[A-Za-z0-9]{32,}"),
            &["whsec_"],
        )
        .entropy(3.0),
        def(
            "square-access-token",
            "Square access token or OAuth secret",
            token(r"(?:EAAA|sq0atp-)[\w\-]{22,60}|sq0csp-[\w\-]{43}"),
            &["sq0atp-", "eaaa", "sq0csp-"],
        )
        .entropy(2.0),
        def(
            "twilio-api-key",
            "Twilio API key SID and secret, or auth token, near a twilio name",
            format!(
                "{}|{}",
                token(r"SK[0-9a-fA-F]{32}"),
                assign(r"twilio[\w.\-]*?(?:auth|token|secret)", r"[a-f0-9]{32}")
            ),
            &["twilio"],
        )
        .entropy(3.0),
        def(
            "sendgrid-api-token",
            "SendGrid API key",
            glued(r"SG\.[\w\-]{22}\.[\w\-]{43}"),
            &["sg."],
        )
        .entropy(3.0),
        def(
            "mailgun-api-key",
            "Mailgun private API key",
            assign("mailgun", r"key-[a-f0-9]{32}"),
            &["mailgun"],
        ),
        def(
            "mailchimp-api-key",
            "Mailchimp API key",
            assign(
                r"MailchimpSDK\.initialize|mailchimp",
                r"[a-f0-9]{32}-us\d\d?",
            ),
            &["mailchimp"],
        ),
        def(
            "sendinblue-api-token",
            "Brevo (Sendinblue) API key",
            glued(r"xkeysib-[a-f0-9]{64}-[A-Za-z0-9]{16}"),
            &["xkeysib-"],
        ),
        def(
            "easypost-api-token",
            "EasyPost production or test API key",
            token(r"EZ[AT]K[A-Za-z0-9]{54}"),
            &["ezak", "eztk"],
        )
        .entropy(3.0),
        def(
            "shopify-access-token",
            "Shopify access token, custom app token, private app token or shared secret",
            glued(r"shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}"),
            &["shpat_", "shpca_", "shppa_", "shpss_"],
        )
        .entropy(2.0),
    ]
}

fn business() -> Vec<Def> {
    vec![
        def(
            "telegram-bot-token",
            "Telegram bot API token",
            r"(?:^|[^0-9])([0-9]{8,10}:AA[0-9A-Za-z_\-]{33})(?:[^0-9A-Za-z_\-]|$)",
            &[":aa"],
        )
        .entropy(3.0),
        def(
            "discord-webhook-url",
            "Discord webhook URL",
            r"(https://(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/[0-9]{17,20}/[A-Za-z0-9_\-]{60,70})",
            &["discord"],
        ),
        def(
            "microsoft-teams-webhook",
            "Microsoft Teams incoming webhook URL",
            r"(https://[a-z0-9]+\.webhook\.office\.com/webhookb2/[a-z0-9\-]{36}@[a-z0-9\-]{36}/IncomingWebhook/[a-z0-9]{32}/[a-z0-9\-]{36})",
            &["webhook.office.com"],
        ),
        def(
            "facebook-secret",
            "Facebook app secret assigned to a facebook name",
            assign("facebook", r"[a-f0-9]{32}"),
            &["facebook"],
        )
        .entropy(3.0),
        def(
            "facebook-access-token",
            "Facebook app access token (app id | secret)",
            r"\b([0-9]{15,16}(?:\||%7[Cc])[0-9A-Za-z_\-]{27,40})(?:[\x60'\x22\s;,]|$)",
            &["facebook"],
        )
        .entropy(3.0),
        def(
            "facebook-page-access-token",
            "Facebook page or user access token",
            token(r"EAA[MC][A-Za-z0-9]{100,}"),
            &["eaam", "eaac"],
        )
        .entropy(4.0),
    ]
}

fn business_apps() -> Vec<Def> {
    vec![
        def(
            "hubspot-api-key",
            "HubSpot API key (UUID near a hubspot name) or private app token",
            format!(
                "{}|{}",
                assign("hubspot", UUID),
                glued(&format!("pat-(?:na|eu)1-{UUID}"))
            ),
            &["hubspot", "pat-na1-", "pat-eu1-"],
        ),
        def(
            "messagebird-api-token",
            "MessageBird API key or client id",
            assign(r"message[_\-]?bird", &format!(r"[A-Za-z0-9]{{25}}|{UUID}")),
            &["messagebird", "message_bird", "message-bird"],
        ),
        def(
            "sumologic-access-id",
            "Sumo Logic access id",
            assign(r"(?-i:[Ss]umo|SUMO)", r"su[A-Za-z0-9]{12}"),
            &["sumo"],
        )
        .entropy(3.0),
        def(
            "sumologic-access-token",
            "Sumo Logic access key",
            assign(r"(?-i:[Ss]umo|SUMO)", r"[A-Za-z0-9]{64}"),
            &["sumo"],
        )
        .entropy(3.0),
        def(
            "maxmind-license-key",
            "MaxMind license key",
            token(r"[A-Za-z0-9]{6}_[A-Za-z0-9]{29}_mmk"),
            &["_mmk"],
        )
        .entropy(4.0),
        def(
            "cisco-meraki-api-key",
            "Cisco Meraki API key assigned to a meraki name",
            assign(r"(?-i:[Mm]eraki|MERAKI)", r"[0-9a-f]{40}"),
            &["meraki"],
        )
        .entropy(3.0),
        def(
            "sidekiq-secret",
            "Sidekiq Pro / Enterprise credentials in a Bundler variable",
            assign(
                r"BUNDLE_ENTERPRISE__CONTRIBSYS__COM|BUNDLE_GEMS__CONTRIBSYS__COM",
                r"[a-f0-9]{8}:[a-f0-9]{8}",
            ),
            &[
                "bundle_enterprise__contribsys__com",
                "bundle_gems__contribsys__com",
            ],
        ),
        def(
            "sidekiq-sensitive-url",
            "Sidekiq Pro / Enterprise credentials in a gem source URL",
            r"(?i:\bhttps?://)([a-f0-9]{8}:[a-f0-9]{8})@(?i:gems|enterprise)\.contribsys\.com(?:[/#?:]|$)",
            &["contribsys.com"],
        ),
        def(
            "mapbox-secret-token",
            "Mapbox secret access token",
            token(r"sk\.eyJ[A-Za-z0-9_\-]{50,}\.[A-Za-z0-9_\-]{20,}"),
            &["sk.eyj"],
        ),
    ]
}
