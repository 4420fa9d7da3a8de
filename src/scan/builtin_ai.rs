//! Built-in rules for AI and model-hosting providers (OpenAI, Anthropic, Hugging Face, ...).

use super::checks;
use super::rule::{assign, def, glued, token, Def};

/// Returns the built-in rules of AI providers.
pub(crate) fn rules() -> Vec<Def> {
    let mut rules = model_labs();
    rules.extend(others());
    rules
}

fn model_labs() -> Vec<Def> {
    vec![
        def(
            "openai-api-key",
            "OpenAI API key (project, service-account, admin or legacy user key)",
            format!(
                "{}|{}",
                glued(r"sk-(?:proj|svcacct|admin)-[A-Za-z0-9_\-]{40,250}|sk-[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}"),
                token(r"sk-[A-Za-z0-9]{48}")
            ),
            &["sk-proj-", "sk-svcacct-", "sk-admin-", "t3blbkfj", "sk-"],
        )
        .entropy(3.5)
        .check(checks::with_digit),
        def(
            "anthropic-api-key",
            "Anthropic API key",
            glued(r"sk-ant-api03-[A-Za-z0-9_\-]{93}AA"),
            &["sk-ant-api03"],
        ),
        def(
            "anthropic-admin-api-key",
            "Anthropic admin API key",
            glued(r"sk-ant-admin01-[A-Za-z0-9_\-]{93}AA"),
            &["sk-ant-admin01"],
        ),
        def(
            "huggingface-access-token",
            "Hugging Face user access token",
            glued(r"hf_[A-Za-z0-9]{34}"),
            &["hf_"],
        )
        .entropy(3.0)
        .check(checks::mixed_case),
        def(
            "huggingface-organization-api-token",
            "Hugging Face organization API token",
            glued(r"api_org_[A-Za-z0-9]{34}"),
            &["api_org_"],
        )
        .entropy(3.0)
        .check(checks::mixed_case),
        def(
            "perplexity-api-key",
            "Perplexity API key",
            glued(r"pplx-[A-Za-z0-9]{48}"),
            &["pplx-"],
        )
        .entropy(3.5),
    ]
}

fn others() -> Vec<Def> {
    vec![
        def(
            "groq-api-key",
            "Groq API key",
            glued(r"gsk_[A-Za-z0-9]{52}"),
            &["gsk_"],
        )
        .entropy(3.5),
        def(
            "replicate-api-token",
            "Replicate API token",
            token(r"r8_[A-Za-z0-9]{37}"),
            &["r8_"],
        )
        .entropy(3.5),
        def(
            "langsmith-api-key",
            "LangSmith API key",
            glued(r"lsv2_(?:pt|sk)_[a-f0-9]{32}_[a-f0-9]{10}"),
            &["lsv2_"],
        ),
        def(
            "xai-api-key",
            "xAI API key",
            glued(r"xai-[A-Za-z0-9]{80}"),
            &["xai-"],
        )
        .entropy(3.5),
        def(
            "pinecone-api-key",
            "Pinecone API key",
            glued(r"pcsk_[A-Za-z0-9]{4,10}_[A-Za-z0-9]{40,80}"),
            &["pcsk_"],
        )
        .entropy(3.5),
        def(
            "tavily-api-key",
            "Tavily API key",
            glued(r"tvly-(?:dev-|prod-)?[A-Za-z0-9]{32}"),
            &["tvly-"],
        )
        .entropy(3.5),
        def(
            "openrouter-api-key",
            "OpenRouter API key",
            glued(r"sk-or-v1-[a-f0-9]{64}"),
            &["sk-or-v1-"],
        )
        .entropy(3.0),
        def(
            "langfuse-secret-key",
            "Langfuse secret key",
            glued(r"sk-lf-[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}"),
            &["sk-lf-"],
        ),
        def(
            "cohere-api-key",
            "Cohere API key assigned to a cohere or CO_API_KEY name",
            assign(r"cohere|co_api_key", r"[A-Za-z0-9]{40}"),
            &["cohere", "co_api_key"],
        )
        .entropy(4.0),
        def(
            "wandb-api-key",
            "Weights & Biases API key",
            assign(r"wandb[_.\-]?api[_.\-]?key", r"[a-f0-9]{40}"),
            &["wandb"],
        )
        .entropy(3.0),
    ]
}
