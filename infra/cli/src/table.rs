//! Tables for a terminal (comfy-table measures display widths, so Chinese names line up) and
//! times as operators read them.

use comfy_table::{presets, ContentArrangement, Table};

/// A table with rounded borders and these headers; on a terminal, long cells wrap to its width.
pub fn new(headers: &[&str]) -> Table {
    let mut t = plain();
    t.set_header(headers.iter().copied());
    t
}

/// A table without headers (a record's fields, one per row).
pub fn plain() -> Table {
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED)
        .apply_modifier(comfy_table::modifiers::UTF8_ROUND_CORNERS);
    let term = console::Term::stdout();
    if term.is_term() {
        if let Some((_, cols)) = term.size_checked() {
            t.set_content_arrangement(ContentArrangement::Dynamic)
                .set_width(cols);
        }
    }
    t
}

/// At most `max` characters, with an ellipsis when cut.
pub fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Unix seconds as Beijing time (UTC+8, where WeChat and the merchants are), minutes precision:
/// `2026-11-30 08:40`.
pub fn time(t: i64) -> String {
    let t = t + 8 * 3600;
    let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}",
        secs / 3600,
        (secs % 3600) / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_beijing_time() {
        assert_eq!(time(0), "1970-01-01 08:00");
        // 2024-02-29 15:59:59 UTC
        assert_eq!(time(1_709_222_399), "2024-02-29 23:59");
        assert_eq!(time(1_709_222_400), "2024-03-01 00:00");
    }

    #[test]
    fn shortening_counts_characters() {
        assert_eq!(shorten("模拟小程序", 10), "模拟小程序");
        assert_eq!(shorten("模拟小程序", 3), "模拟…");
    }

    #[test]
    fn chinese_names_line_up() {
        let mut t = new(&["APPID", "NAME"]);
        t.add_row(vec!["wx0000000000000001", "模拟小程序1"]);
        t.add_row(vec!["wx0000000000000002", "Shop"]);
        let out = t.to_string();
        let widths: Vec<usize> = out.lines().map(unicode_width_of).collect();
        assert!(widths.windows(2).all(|w| w[0] == w[1]), "{out}");
    }

    /// Display width: CJK characters take two columns.
    fn unicode_width_of(s: &str) -> usize {
        s.chars()
            .map(|c| {
                if ('\u{4e00}'..='\u{9fff}').contains(&c) {
                    2
                } else {
                    1
                }
            })
            .sum()
    }
}
