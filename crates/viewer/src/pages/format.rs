//! How the pages write durations, times and sizes.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A duration in its natural unit with three significant digits: `85.2µs`, `312ms`, `1.20s`.
pub fn duration(d: Duration) -> String {
    if d.is_zero() {
        return "0".into();
    }
    let ns = d.as_nanos() as f64;
    let (value, unit) = if ns < 1e3 {
        (ns, "ns")
    } else if ns < 1e6 {
        (ns / 1e3, "µs")
    } else if ns < 1e9 {
        (ns / 1e6, "ms")
    } else if ns < 60e9 {
        (ns / 1e9, "s")
    } else {
        let secs = d.as_secs();
        return format!("{}m {:02}s", secs / 60, secs % 60);
    };
    let decimals = if value >= 100.0 {
        0
    } else if value >= 10.0 {
        1
    } else {
        2
    };
    format!("{value:.decimals$}{unit}")
}

/// A time in UTC: `2026-11-29 08:21:00.123Z`.
pub fn time(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_millis()
    )
}

/// A time as RFC 3339 wants it, to the second: `2026-11-29T08:21:00Z` (Jaeger's query API).
pub fn rfc3339(t: SystemTime) -> String {
    time(t)[..19].replace(' ', "T") + "Z"
}

/// A time from Unix milliseconds, as [`time`] writes it.
pub fn unix_ms(ms: u64) -> String {
    time(UNIX_EPOCH + Duration::from_millis(ms))
}

/// Bytes in binary units: `12.4 MiB`.
pub fn bytes(n: usize) -> String {
    let n = n as f64;
    if n < 1024.0 {
        format!("{n} B")
    } else if n < 1024.0 * 1024.0 {
        format!("{:.1} KiB", n / 1024.0)
    } else {
        format!("{:.1} MiB", n / 1024.0 / 1024.0)
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_times_and_sizes_read_naturally() {
        assert_eq!(duration(Duration::from_nanos(85_210)), "85.2µs");
        assert_eq!(duration(Duration::from_millis(312)), "312ms");
        assert_eq!(duration(Duration::from_millis(1200)), "1.20s");
        assert_eq!(duration(Duration::from_secs(125)), "2m 05s");
        assert_eq!(
            time(UNIX_EPOCH + Duration::from_millis(1_795_940_460_123)),
            "2026-11-29 08:21:00.123Z"
        );
        assert_eq!(time(UNIX_EPOCH), "1970-01-01 00:00:00.000Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_millis(1_795_940_460_123)),
            "2026-11-29T08:21:00Z"
        );
        assert_eq!(bytes(16 << 20), "16.0 MiB");
    }
}
