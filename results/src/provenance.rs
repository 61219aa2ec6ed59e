//! Which harness made a run folder, and when: recorded in `config.toml` when the run starts, so a
//! leaderboard row or a suite report can say which version and commit produced its numbers.

use serde::{Deserialize, Serialize};

/// The harness version (the workspace's) and source commit (embedded at build time by
/// `build.rs`) of a run's first invocation, and when it started (UTC, RFC 3339).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    pub version: String,
    pub commit: String,
    pub started: String,
}

/// The version of this build of the harness.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The git commit this build was made from, or "unknown".
pub const SOURCE_COMMIT: &str = env!("LOTTERY_SOURCE_COMMIT");

impl Provenance {
    /// This build, starting now.
    pub fn now() -> Self {
        Provenance { version: VERSION.to_string(), commit: SOURCE_COMMIT.to_string(), started: utc_now() }
    }

    /// The `[provenance]` table of a folder's `config.toml`, if it has one.
    pub fn from_config(config: &toml::Table) -> Option<Self> {
        config.get("provenance")?.clone().try_into().ok()
    }
}

/// Now, as `2026-11-28T12:34:56Z`.
pub fn utc_now() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    utc_rfc3339(secs)
}

/// Seconds since the Unix epoch as an RFC 3339 UTC time (the civil-from-days algorithm of
/// Howard Hinnant's date library).
pub fn utc_rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_seconds_become_calendar_dates() {
        assert_eq!(utc_rfc3339(0), "1970-01-01T00:00:00Z");
        // 2000-02-29 (a leap day of a century leap year) and a date after it.
        assert_eq!(utc_rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc_rfc3339(1_795_868_096), "2026-11-28T12:14:56Z");
    }

    #[test]
    fn the_commit_is_embedded() {
        assert!(!SOURCE_COMMIT.is_empty());
    }
}
