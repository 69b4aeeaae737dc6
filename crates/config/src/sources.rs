//! Where raw setting values come from: the TOML file, the environment and the command line.
//! Each source yields a [`Layer`] of unparsed values that remembers its origin, so that a bad
//! value is reported under the name the user actually wrote.

use std::fmt;
use std::path::{Path, PathBuf};

use std::ffi::OsString;

use super::error::ConfigError;
use super::sdk_env::SDK_VARIABLES;
use super::settings::{self, Setting};

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Default,
    File(PathBuf),
    Env,
    Flag,
}

/// An unparsed value: text from the environment or a flag, or a table from the file.
#[derive(Debug, Clone, PartialEq)]
pub enum RawValue {
    Text(String),
    Map(Vec<(String, String)>),
}

/// The values one source sets.
#[derive(Debug, Clone)]
pub struct Layer {
    pub(crate) origin: Origin,
    pub(crate) values: Vec<(Setting, RawValue)>,
    /// Values this source holds that cannot be used, reported by
    /// [`TelemetryConfig::from_layers`](super::TelemetryConfig::from_layers) before any other.
    pub(crate) refused: Vec<Refused>,
}

/// A value refused as it was read: the variable, the value when it may be shown, and why.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Refused {
    pub name: String,
    pub value: Option<String>,
    pub reason: String,
}

impl Layer {
    pub fn new(origin: Origin) -> Self {
        Layer {
            origin,
            values: Vec::new(),
            refused: Vec::new(),
        }
    }

    /// Sets `setting` to `value` in this layer (a later set wins).
    pub fn set(mut self, setting: Setting, value: impl Into<String>) -> Self {
        self.values.retain(|(s, _)| s.key != setting.key);
        self.values.push((setting, RawValue::Text(value.into())));
        self
    }

    /// Reads the process environment: every setting's variable, and the variables the SDK,
    /// the exporters and the log filter read by themselves (checked here, so that a value
    /// they would misuse stops start-up by name). Empty variables count as unset, as the
    /// OpenTelemetry specification says; a value that is not UTF-8 is refused.
    pub fn from_env() -> Self {
        Self::from_env_os_with(|name| std::env::var_os(name))
    }

    /// Reads variables through `lookup`, so tests need not touch the process environment.
    pub fn from_env_with(lookup: impl Fn(&str) -> Option<String>) -> Self {
        Self::from_env_os_with(|name| lookup(name).map(OsString::from))
    }

    /// As [`from_env_with`](Self::from_env_with), for values that may not be UTF-8.
    pub fn from_env_os_with(lookup: impl Fn(&str) -> Option<OsString>) -> Self {
        let mut layer = Layer::new(Origin::Env);
        let mut read = |name: &str, secret: bool| -> Option<String> {
            let raw = lookup(name)?;
            match raw.into_string() {
                Ok(v) if v.trim().is_empty() => None,
                Ok(v) => Some(v),
                Err(raw) => {
                    layer.refused.push(Refused {
                        name: name.to_string(),
                        value: (!secret).then(|| raw.to_string_lossy().into_owned()),
                        reason: "the value is not valid UTF-8".into(),
                    });
                    None
                }
            }
        };
        let mut values = Vec::new();
        for s in settings::ALL {
            if let Some(v) = read(s.env, s.secret) {
                values.push((*s, RawValue::Text(v)));
            }
        }
        let mut refused = Vec::new();
        for var in SDK_VARIABLES {
            if let Some(v) = read(var.name, var.secret())
                && let Some(reason) = var.refuse(&v)
            {
                refused.push(Refused {
                    name: var.name.to_string(),
                    value: (!var.secret()).then_some(v),
                    reason,
                });
            }
        }
        layer.values = values;
        layer.refused.extend(refused);
        layer
    }

    /// Reads a TOML file. An unknown key, or a value of the wrong shape, is an error that
    /// names the key and the file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml(&text, path)
    }

    pub(crate) fn from_toml(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let table: toml::Table = toml::from_str(text).map_err(|e| ConfigError::Toml {
            path: path.to_path_buf(),
            reason: e.message().to_string(),
        })?;
        let mut layer = Layer::new(Origin::File(path.to_path_buf()));
        flatten(&table, "", path, &mut layer.values)?;
        Ok(layer)
    }
}

fn flatten(
    table: &toml::Table,
    prefix: &str,
    path: &Path,
    out: &mut Vec<(Setting, RawValue)>,
) -> Result<(), ConfigError> {
    for (name, value) in table {
        let key = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        let setting = settings::ALL.iter().find(|s| s.key == key);
        match (setting, value) {
            (Some(s), toml::Value::Table(t)) if s.is_map => {
                let mut pairs = Vec::with_capacity(t.len());
                for (k, v) in t {
                    pairs.push((k.clone(), leaf_text(v, &format!("{key}.{k}"), path, s)?));
                }
                out.push((*s, RawValue::Map(pairs)));
            }
            (Some(s), v) => out.push((*s, RawValue::Text(leaf_text(v, &key, path, s)?))),
            (None, toml::Value::Table(t))
                if settings::ALL
                    .iter()
                    .any(|s| s.key.starts_with(&format!("{key}."))) =>
            {
                flatten(t, &key, path, out)?
            }
            (None, _) => {
                return Err(ConfigError::UnknownKey {
                    key,
                    path: path.to_path_buf(),
                });
            }
        }
    }
    Ok(())
}

fn leaf_text(
    value: &toml::Value,
    key: &str,
    path: &Path,
    setting: &Setting,
) -> Result<String, ConfigError> {
    match value {
        toml::Value::String(s) => Ok(s.clone()),
        toml::Value::Integer(i) => Ok(i.to_string()),
        toml::Value::Float(f) => Ok(f.to_string()),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        other => Err(ConfigError::Invalid {
            name: format!("{key} in {}", path.display()),
            value: if setting.secret {
                None
            } else {
                Some(format!("{} value", other.type_str()))
            },
            reason: "expected a string, number or boolean".into(),
        }),
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::File(p) => write!(f, "file {}", p.display()),
            Origin::Env => f.write_str("environment"),
            Origin::Flag => f.write_str("command line"),
        }
    }
}

impl Origin {
    /// The name under which the user wrote `setting` in this source.
    pub(crate) fn name_of(&self, setting: &Setting) -> String {
        match self {
            Origin::Default => format!("{} (default)", setting.key),
            Origin::File(p) => format!("{} in {}", setting.key, p.display()),
            Origin::Env => setting.env.to_string(),
            Origin::Flag => setting.flag.unwrap_or(setting.key).to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_tables_flatten_to_dotted_keys() {
        let layer = Layer::from_toml(
            "[push]\nprotocol = \"grpc\"\ntimeout_ms = 250\n[push.headers]\nauthorization = \"x\"\n",
            Path::new("t.toml"),
        )
        .unwrap();
        let mut keys: Vec<_> = layer.values.iter().map(|(s, _)| s.key).collect();
        keys.sort();
        assert_eq!(keys, ["push.headers", "push.protocol", "push.timeout_ms"]);
        let headers = layer.values.iter().find(|(s, _)| s.key == "push.headers");
        assert_eq!(
            headers.map(|(_, v)| v.clone()),
            Some(RawValue::Map(vec![("authorization".into(), "x".into())]))
        );
    }

    #[test]
    fn unknown_key_is_named() {
        let err = Layer::from_toml("[push]\nprotocl = \"grpc\"\n", Path::new("t.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("push.protocl"), "{err}");
        assert!(err.contains("t.toml"), "{err}");
    }

    #[test]
    fn values_that_are_not_utf8_are_refused_by_name() {
        use std::os::unix::ffi::OsStringExt;
        let layer = Layer::from_env_os_with(|name| match name {
            "OTEL_SERVICE_NAME" => Some(OsString::from_vec(b"node\xff".to_vec())),
            "OTEL_EXPORTER_OTLP_HEADERS" => Some(OsString::from_vec(b"k=\xfe".to_vec())),
            "RUST_LOG" => Some(OsString::from_vec(vec![0xc3])),
            _ => None,
        });
        assert!(layer.values.is_empty());
        let names: Vec<_> = layer.refused.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "OTEL_SERVICE_NAME",
                "OTEL_EXPORTER_OTLP_HEADERS",
                "RUST_LOG"
            ]
        );
        assert_eq!(layer.refused[1].value, None, "headers are never shown");
    }

    #[test]
    fn empty_environment_variables_are_unset() {
        let layer = Layer::from_env_with(|name| match name {
            "OTEL_SERVICE_NAME" => Some(String::new()),
            "OTEL_EXPORTER_OTLP_PROTOCOL" => Some("grpc".into()),
            _ => None,
        });
        assert_eq!(layer.values.len(), 1);
        assert_eq!(layer.values[0].0.key, "push.protocol");
    }
}
