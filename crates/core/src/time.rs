//! UTC timestamps as seconds since the Unix epoch, to and from ISO 8601 text.

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + if m <= 2 { 1 } else { 0 }, m, d)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// Text that [`parse_utc`] cannot read as a date or time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a date (YYYY-MM-DD) or UTC time (YYYY-MM-DDTHH:MM:SSZ)")]
pub struct NotATime(pub String);

/// Parse `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM[:SS[.fff]]` with `Z` or `±HH:MM`
/// (a space may stand for `T`; no offset means UTC) into seconds since the
/// Unix epoch, UTC. Fractions of a second are dropped.
pub fn parse_utc(text: &str) -> Result<i64, NotATime> {
    let bad = || NotATime(text.to_string());
    let t = text.trim();
    let num = |s: &str| -> Result<i64, NotATime> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        s.parse::<i64>().map_err(|_| bad())
    };
    if t.len() < 10 || !t.is_char_boundary(10) {
        return Err(bad());
    }
    let (date, rest) = t.split_at(10);
    let b = date.as_bytes();
    if b[4] != b'-' || b[7] != b'-' {
        return Err(bad());
    }
    let (y, m, d) = (num(&date[0..4])?, num(&date[5..7])?, num(&date[8..10])?);
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return Err(bad());
    }
    let mut secs = days_from_civil(y, m, d) * 86_400;
    if rest.is_empty() {
        return Ok(secs);
    }
    let rest = rest.strip_prefix(['T', 't', ' ']).ok_or_else(bad)?;
    let (clock, offset) = match rest.find(['Z', 'z', '+', '-']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let parts: Vec<&str> = clock.split(':').collect();
    if parts.len() < 2 || parts.len() > 3 {
        return Err(bad());
    }
    let (hh, mm) = (num(parts[0])?, num(parts[1])?);
    let ss = match parts.get(2) {
        Some(s) => num(s.split('.').next().unwrap_or(""))?,
        None => 0,
    };
    if hh > 23 || mm > 59 || ss > 60 {
        return Err(bad());
    }
    secs += hh * 3600 + mm * 60 + ss;
    match offset {
        "" | "Z" | "z" => {}
        o => {
            let sign = if o.starts_with('-') { -1 } else { 1 };
            let hm: Vec<&str> = o[1..].split(':').collect();
            if hm.len() != 2 {
                return Err(bad());
            }
            let (oh, om) = (num(hm[0])?, num(hm[1])?);
            if oh > 23 || om > 59 {
                return Err(bad());
            }
            secs -= sign * (oh * 3600 + om * 60);
        }
    }
    Ok(secs)
}

/// Format seconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_utc(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let s = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        (s / 60) % 60,
        s % 60
    )
}

/// Seconds since the Unix epoch now (0 if the clock is before 1970).
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(parse_utc("1970-01-01").unwrap(), 0);
        assert_eq!(parse_utc("2000-03-01T00:00:00Z").unwrap(), 951_868_800);
        assert_eq!(
            parse_utc("2024-02-29T12:30:15+02:00").unwrap(),
            1_709_202_615
        );
        assert_eq!(format_utc(1_709_202_615), "2024-02-29T10:30:15Z");
        assert_eq!(format_utc(-1), "1969-12-31T23:59:59Z");
        for bad in [
            "2023-02-29",
            "2024-13-01",
            "24-01-01",
            "2024-01-01T25:00",
            "yesterday",
            "2024-01-01T10:00+5",
        ] {
            assert!(parse_utc(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn round_trip_over_centuries() {
        for secs in (-5_000_000_000i64..5_000_000_000).step_by(86_399 * 37 + 11) {
            assert_eq!(parse_utc(&format_utc(secs)).unwrap(), secs);
        }
    }
}
