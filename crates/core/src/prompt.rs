//! Prompt assembly: the system message (context blocks, profile system prompt, directive)
//! and the user message. Pure.

/// The two messages sent to a chat API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    /// Context, profile system prompt and the execution directive.
    pub system: String,
    /// The user's request, as given.
    pub user: String,
}

/// A labelled block of project context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextBlock {
    /// Where it came from, e.g. `CONTRACTS.md § Error handling`.
    pub label: String,
    /// The text.
    pub text: String,
}

/// Builds the messages: context blocks first, then the profile's system prompt, then the
/// directive; the user's prompt is its own message, untouched.
pub fn assemble(
    context: &[ContextBlock],
    profile_system: Option<&str>,
    directive: &str,
    user: &str,
) -> Prompt {
    let mut parts: Vec<String> = context
        .iter()
        .map(|b| {
            format!(
                "<context source=\"{}\">\n{}\n</context>",
                b.label,
                b.text.trim_end()
            )
        })
        .collect();
    parts.extend(
        [profile_system, Some(directive)]
            .into_iter()
            .flatten()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
    );
    Prompt {
        system: parts.join("\n\n"),
        user: user.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_context_system_directive() {
        let ctx = [ContextBlock {
            label: "CONTRACTS.md § API".into(),
            text: "Use JSON.\n".into(),
        }];
        let p = assemble(&ctx, Some("You are terse."), "Just do it.", "write x");
        assert_eq!(
            p.system,
            "<context source=\"CONTRACTS.md § API\">\nUse JSON.\n</context>\n\nYou are terse.\n\nJust do it."
        );
        assert_eq!(p.user, "write x");
        assert_eq!(assemble(&[], None, "  ", "u").system, "");
    }
}
