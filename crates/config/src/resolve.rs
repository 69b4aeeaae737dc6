//! Folding layers into values: the last layer that sets a setting wins, and its value is
//! parsed once, with errors that name the setting as that layer spells it.

use std::collections::HashMap;
use std::time::Duration;

use super::{ConfigError, ExportBatch, Layer, Origin, RawValue, Setting, values};

/// The value each setting takes: the last layer's that sets it.
pub(super) struct Resolver<'a> {
    chosen: HashMap<&'static str, (&'a Origin, &'a RawValue)>,
}

impl<'a> Resolver<'a> {
    pub(super) fn new(layers: &'a [Layer]) -> Self {
        let mut chosen = HashMap::new();
        for layer in layers {
            for (setting, value) in &layer.values {
                chosen.insert(setting.key, (&layer.origin, value));
            }
        }
        Resolver { chosen }
    }

    fn invalid(origin: &Origin, s: Setting, value: &str, reason: String) -> ConfigError {
        ConfigError::Invalid {
            name: origin.name_of(&s),
            value: (!s.secret).then(|| value.to_string()),
            reason,
        }
    }

    pub(super) fn text_opt<T>(
        &self,
        s: Setting,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ConfigError> {
        match self.chosen.get(s.key) {
            None => Ok(None),
            Some((origin, RawValue::Text(v))) => parse(v.trim())
                .map(Some)
                .map_err(|reason| Self::invalid(origin, s, v, reason)),
            Some((origin, RawValue::Map(_))) => Err(Self::invalid(
                origin,
                s,
                "<table>",
                "expected a single value, not a table".into(),
            )),
        }
    }

    pub(super) fn text<T>(
        &self,
        s: Setting,
        default: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        match self.text_opt(s, &parse)? {
            Some(v) => Ok(v),
            None => {
                parse(default).map_err(|reason| Self::invalid(&Origin::Default, s, default, reason))
            }
        }
    }

    /// A `k=v,k=v` list (percent-encoded, as the OpenTelemetry variables are) or a file table.
    pub(super) fn map(
        &self,
        s: Setting,
        check: impl Fn(&str, &str) -> Result<(), String>,
    ) -> Result<Vec<(String, String)>, ConfigError> {
        let Some((origin, raw)) = self.chosen.get(s.key) else {
            return Ok(Vec::new());
        };
        let pairs = match raw {
            RawValue::Map(pairs) => pairs.clone(),
            RawValue::Text(text) => values::parse_key_value_list(text)
                .map_err(|reason| Self::invalid(origin, s, text, reason))?,
        };
        for (k, v) in &pairs {
            check(k, v).map_err(|reason| {
                let shown = if s.secret {
                    String::new()
                } else {
                    format!("{k}={v}")
                };
                Self::invalid(origin, s, &shown, reason)
            })?;
        }
        Ok(pairs)
    }
    /// A whole number within the setting's range.
    pub(super) fn count(&self, s: Setting, default: u64) -> Result<u64, ConfigError> {
        let (min, max) = s.range.unwrap_or((0, u64::MAX));
        self.text(s, &default.to_string(), |v| {
            values::parse_count(v, min, max)
        })
    }

    /// Milliseconds within the setting's range.
    pub(super) fn millis(&self, s: Setting, default_ms: u64) -> Result<Duration, ConfigError> {
        let max = s.range.map_or(u64::MAX, |(_, max)| max);
        self.text(s, &default_ms.to_string(), |v| {
            values::parse_millis_up_to(v, max)
        })
    }

    /// A batch processor's queue, batch size and delay, from `defaults` where unset. The
    /// batch size defaults to the default batch or the queue, whichever is smaller; set
    /// explicitly past the queue it is refused.
    pub(super) fn batch(
        &self,
        [queue, batch, delay]: [Setting; 3],
        defaults: ExportBatch,
    ) -> Result<ExportBatch, ConfigError> {
        let default_batch = defaults.max_export_batch_size as u64;
        let max_queue_size = self.count(queue, defaults.max_queue_size as u64)?;
        let max_export_batch_size = match self.chosen.get(batch.key) {
            None => max_queue_size.min(default_batch),
            Some(_) => {
                let n = self.count(batch, default_batch)?;
                if n > max_queue_size {
                    let (origin, _) = self.chosen[batch.key];
                    return Err(Self::invalid(
                        origin,
                        batch,
                        &n.to_string(),
                        format!("must not exceed the queue size ({max_queue_size})"),
                    ));
                }
                n
            }
        };
        Ok(ExportBatch {
            max_queue_size: max_queue_size as usize,
            max_export_batch_size: max_export_batch_size as usize,
            schedule_delay: self.millis(delay, defaults.schedule_delay.as_millis() as u64)?,
        })
    }
}
