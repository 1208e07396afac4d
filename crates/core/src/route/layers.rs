//! The layer patterns, in a file of their own: the build script reads them too (it
//! works out their literals ahead of time, see `literals.rs`).

/// Layers of a system; three or more named means a feature across layers. They are
/// compiled into the router's DFA after its rules, so one scan finds both.
pub(crate) const LAYER_PATTERNS: [&str; 10] = [
    r"\b(ui|frontend|front-end|react|vue|angular|page|screens?|spa|dashboard|web app|web client|web form|forms?|login ui|ios|android|storefront)\b",
    r"\b(api|endpoints?|routes?|server|backend|graphql|grpc|websocket|controllers?|middleware|handlers?)\b",
    r"\b(db|database|schema|tables?|postgres\w*|mysql|sqlite|prisma|persistence|orm|user db)\b",
    r"\b(deploy\w*|docker|kubernetes|k8s|helm|terraform|vercel|aws|lambda|s3|cdn)\b",
    r"\b(queue|kafka|event bus|jobs?|workers?|webhooks?|pub/?sub|events)\b",
    r"\b(email|smtp|sms|notifications?|email provider)\b",
    r"\b(auth|authn|authz|authentication|authorization|login|logout|sign-?up|sessions?|oauth|rbac|roles|sso|saml|idp)\b",
    r"\b(cache|caching|redis|memcached)\b",
    r"\b(mobile|ios|android|flutter|react native|swiftui|jetpack compose)\b",
    r"\b(analytics|warehouse|etl|backups?)\b",
];
