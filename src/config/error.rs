use std::fmt;
use std::path::PathBuf;

/// A configuration that cannot be used. Its message names the setting as the user wrote it
/// (file key, environment variable or flag) and the offending value, except for values that
/// may hold credentials, which are never shown.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigError {
    /// The file could not be read or is not valid TOML.
    File { path: PathBuf, reason: String },
    /// The file sets a key that no setting has.
    UnknownKey { key: String, path: PathBuf },
    /// A value that does not parse or is out of range.
    Invalid {
        /// The setting as the user wrote it, for example `OTEL_TRACES_SAMPLER`.
        name: String,
        /// The value, or `None` when it may hold a credential.
        value: Option<String>,
        reason: String,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::File { path, reason } => {
                write!(f, "cannot use config file {}: {reason}", path.display())
            }
            ConfigError::UnknownKey { key, path } => {
                write!(f, "unknown key `{key}` in config file {}", path.display())
            }
            ConfigError::Invalid {
                name,
                value: Some(value),
                reason,
            } => write!(f, "invalid {name} = {value:?}: {reason}"),
            ConfigError::Invalid {
                name,
                value: None,
                reason,
            } => write!(
                f,
                "invalid {name} (value hidden, it may hold a credential): {reason}"
            ),
        }
    }
}

impl std::error::Error for ConfigError {}
