//! Telling a refusal from an answer, for the buffered modes (`--write`, `--json`, MCP):
//! a refusal is short (at most 600 characters), holds no code, and uses refusal phrasing in
//! one of the languages the router knows (English, Spanish, German, French, Chinese,
//! Japanese; Russian too). Such an answer is retried once with the request rephrased by
//! `rephrase`. A real answer that mentions "I can't" inside code, or next to code, is not a
//! refusal.

use std::sync::LazyLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder};

/// Longest answer that can be a refusal, in characters.
pub const MAX_REFUSAL_CHARS: usize = 600;

/// Refusal phrases, lower case, `'` for any apostrophe.
const PHRASES: &[&str] = &[
    // English
    "i can't",
    "i cannot",
    "i can not",
    "i won't",
    "i will not",
    "i'm unable",
    "i am unable",
    "i'm not able to",
    "i am not able to",
    "i must decline",
    "i have to decline",
    "i'm sorry, but",
    "i am sorry, but",
    "sorry, but i",
    "i apologize, but",
    "as an ai",
    "i'm not comfortable",
    "i am not comfortable",
    "can't assist with",
    "cannot assist with",
    "can't help with",
    "cannot help with",
    "cannot comply",
    "can't comply",
    "i refuse",
    // Spanish
    "no puedo",
    "lo siento, pero",
    "no me es posible",
    "no estoy en condiciones",
    "como modelo de lenguaje",
    "como ia",
    // German
    "ich kann nicht",
    "ich kann dir nicht",
    "ich kann ihnen nicht",
    "ich kann dabei nicht",
    "leider kann ich",
    "es tut mir leid",
    "ich bin nicht in der lage",
    "als ki",
    // French
    "je ne peux pas",
    "je suis désolé",
    "désolé, mais",
    "je ne suis pas en mesure",
    "en tant qu'ia",
    "je refuse",
    // Chinese
    "我不能",
    "我无法",
    "我不会",
    "抱歉",
    "对不起",
    "作为一个ai",
    "作为ai",
    // Japanese
    "できません",
    "申し訳ありません",
    "申し訳ございません",
    "お手伝いできません",
    // Russian
    "я не могу",
    "извините",
    "к сожалению, я",
];

static MATCHER: LazyLock<AhoCorasick> = LazyLock::new(|| {
    AhoCorasickBuilder::new()
        .ascii_case_insensitive(true)
        .build(PHRASES)
        .expect("refusal phrases compile")
});

/// Whether an answer is a refusal: short, no code, refusal phrasing.
pub fn is_refusal(answer: &str) -> bool {
    let text = answer.trim();
    if text.is_empty() || text.chars().count() > MAX_REFUSAL_CHARS || has_code(text) {
        return false;
    }
    let folded = text
        .replace(['\u{2019}', '\u{2018}', '`'], "'")
        .to_lowercase();
    MATCHER.is_match(&folded)
}

/// Code: a fence, an indented block line, or a line that ends like a statement.
fn has_code(text: &str) -> bool {
    text.contains("```")
        || text.contains("~~~")
        || text.lines().any(|l| {
            let t = l.trim_end();
            l.starts_with("    ") && !t.trim().is_empty()
                || l.starts_with('\t')
                || t.ends_with(['{', ';'])
                || t == "}"
        })
}

/// The request as it is sent again after a refusal: `Generate code for: …`.
pub fn rephrase(prompt: &str) -> String {
    let prompt = prompt.trim();
    if prompt
        .get(..18)
        .is_some_and(|p| p.eq_ignore_ascii_case("generate code for:"))
    {
        prompt.to_owned()
    } else {
        format!("Generate code for: {prompt}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_in_the_router_languages() {
        for answer in [
            "I can't help with that request.",
            "I’m sorry, but I cannot assist with creating this script.",
            "As an AI language model, I am unable to generate that.",
            "I won't write code that could be used to harm systems.",
            "Lo siento, pero no puedo ayudarte con eso.",
            "Es tut mir leid, aber ich kann dabei nicht helfen.",
            "Je suis désolé, mais je ne peux pas générer ce code.",
            "抱歉，我无法帮助完成这个请求。",
            "申し訳ありませんが、そのリクエストにはお応えできません。",
            "Извините, я не могу помочь с этим.",
        ] {
            assert!(is_refusal(answer), "{answer}");
        }
    }

    #[test]
    fn answers_are_not_refusals() {
        let code_mentions =
            "```python\ndef f():\n    # I can't use recursion here\n    return 1\n```";
        let alternative = "I can't use numpy here, so this uses lists:\n```python\nx = [1]\n```";
        let prose = "Use `ls -la | sort -k5 -n` to list files by size.";
        let indented = "Here:\n\n    raise ValueError(\"I cannot parse this\")\n";
        let long = format!(
            "I cannot stress enough how useful this is. {}",
            "More text. ".repeat(80)
        );
        for answer in [code_mentions, alternative, prose, indented, &long, "", "  "] {
            assert!(!is_refusal(answer), "{answer}");
        }
    }

    #[test]
    fn the_rephrased_request_says_generate_code_for() {
        assert_eq!(
            rephrase("  a slugify function\n"),
            "Generate code for: a slugify function"
        );
        assert_eq!(rephrase("generate code for: x"), "generate code for: x");
    }
}
