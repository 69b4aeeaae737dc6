use std::path::PathBuf;

/// A configuration that cannot be used. Its message names the setting as the user wrote it
/// (file key, environment variable or flag) and the offending value, except for values that
/// may hold credentials, which are never shown.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot use config file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML. `reason` is the parser's message without the excerpt of
    /// the file it would quote (that line may hold a header value), so the parser's error is
    /// not kept as a source either.
    #[error("cannot use config file {}: {reason}", path.display())]
    Toml { path: PathBuf, reason: String },
    /// The file sets a key that no setting has.
    #[error("unknown key `{key}` in config file {}", path.display())]
    UnknownKey { key: String, path: PathBuf },
    /// A value that does not parse or is out of range.
    #[error("invalid {name}{}: {reason}", shown(value))]
    Invalid {
        /// The setting as the user wrote it, for example `OTEL_TRACES_SAMPLER`.
        name: String,
        /// The value, or `None` when it may hold a credential.
        value: Option<String>,
        reason: String,
    },
}

/// ` = "value"` (a URL's user information redacted), or the note that it is hidden.
fn shown(value: &Option<String>) -> String {
    match value {
        Some(value) => format!(" = {:?}", super::redact_userinfo(value)),
        None => " (value hidden, it may hold a credential)".to_string(),
    }
}
