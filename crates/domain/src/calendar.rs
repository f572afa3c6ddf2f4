//! Working-day calendar of a city: IANA time zone, working weekdays and dated non-working days
//! (libur nasional, cuti bersama, one-off decrees), and deadline arithmetic in working days.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A calendar that cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CalendarError {
    /// The time zone name is not in the IANA database.
    #[error("unknown time zone {0:?}")]
    UnknownTimeZone(String),
    /// No weekday is a working day, so no deadline could ever be reached.
    #[error("a calendar needs at least one working weekday")]
    NoWorkingWeekday,
    /// A weekday name could not be read.
    #[error("unknown weekday {0:?}")]
    UnknownWeekday(String),
    /// Office hours are not `HH:MM` with opening before closing.
    #[error("office hours must be HH:MM with open before close, got {0:?}-{1:?}")]
    BadOfficeHours(String, String),
}

/// Daily office hours on working days, local time (for deadlines in working hours).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct OfficeHours {
    /// Opening time, `HH:MM`.
    pub open: String,
    /// Closing time, `HH:MM`.
    pub close: String,
}

impl Default for OfficeHours {
    fn default() -> Self {
        Self {
            open: "08:00".into(),
            close: "16:00".into(),
        }
    }
}

/// A dated non-working day with its name and the decree it comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holiday {
    /// The date, in the city's time zone.
    pub date: NaiveDate,
    /// Name, e.g. "Hari Raya Idul Fitri 1448 H" or "Cuti bersama Idul Fitri".
    pub name: String,
    /// Source reference, e.g. "SKB 3 Menteri 2025".
    #[serde(default)]
    pub source: String,
}

/// Calendar settings as they appear in configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CalendarSpec {
    /// IANA time zone of the city, e.g. `Asia/Makassar` (WITA) for Bontang.
    pub time_zone: String,
    /// Working weekdays, e.g. `["Mon", "Tue", "Wed", "Thu", "Fri"]` (Perpres 21/2023).
    pub working_weekdays: Vec<String>,
    /// Dated non-working days.
    pub holidays: Vec<Holiday>,
    /// Office hours on working days (deadlines in working hours count only these).
    pub office_hours: OfficeHours,
}

impl Default for CalendarSpec {
    fn default() -> Self {
        Self {
            time_zone: "Asia/Makassar".into(),
            working_weekdays: ["Mon", "Tue", "Wed", "Thu", "Fri"].map(String::from).to_vec(),
            holidays: Vec::new(),
            office_hours: OfficeHours::default(),
        }
    }
}

/// A city's working-day calendar.
#[derive(Debug, Clone, PartialEq)]
pub struct Calendar {
    tz: Tz,
    working: [bool; 7],
    holidays: BTreeMap<NaiveDate, Holiday>,
    open: NaiveTime,
    close: NaiveTime,
}

/// Safety bound on how far a search for a working day may go (ten years of days).
const MAX_SCAN_DAYS: u32 = 3660;

impl Calendar {
    /// Builds a calendar from its settings.
    pub fn from_spec(spec: &CalendarSpec) -> Result<Self, CalendarError> {
        let tz: Tz = spec
            .time_zone
            .parse()
            .map_err(|_| CalendarError::UnknownTimeZone(spec.time_zone.clone()))?;
        let mut working = [false; 7];
        for name in &spec.working_weekdays {
            let wd: Weekday = name
                .parse()
                .map_err(|_| CalendarError::UnknownWeekday(name.clone()))?;
            working[wd.num_days_from_monday() as usize] = true;
        }
        if !working.iter().any(|w| *w) {
            return Err(CalendarError::NoWorkingWeekday);
        }
        let holidays = spec.holidays.iter().map(|h| (h.date, h.clone())).collect();
        let (o, c) = (&spec.office_hours.open, &spec.office_hours.close);
        let bad = || CalendarError::BadOfficeHours(o.clone(), c.clone());
        let open = NaiveTime::parse_from_str(o, "%H:%M").map_err(|_| bad())?;
        let close = NaiveTime::parse_from_str(c, "%H:%M").map_err(|_| bad())?;
        if open >= close {
            return Err(bad());
        }
        Ok(Self {
            tz,
            working,
            holidays,
            open,
            close,
        })
    }

    /// Returns the calendar's time zone.
    pub fn time_zone(&self) -> Tz {
        self.tz
    }

    /// Returns the non-working day on `date`, if one is listed.
    pub fn holiday(&self, date: NaiveDate) -> Option<&Holiday> {
        self.holidays.get(&date)
    }

    /// Returns true when `date` is a working weekday and not a listed non-working day.
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        self.working[date.weekday().num_days_from_monday() as usize] && !self.holidays.contains_key(&date)
    }

    /// Returns the city's local date of an instant.
    pub fn local_date(&self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.tz).date_naive()
    }

    /// Returns the last second of `date` in the city's time zone, as UTC.
    pub fn end_of_day(&self, date: NaiveDate) -> DateTime<Utc> {
        let next = date.succ_opt().unwrap_or(date);
        // The start of the next local day; a DST gap at midnight falls back to the first valid hour.
        let start_next = (0..24)
            .filter_map(|h| {
                let t = NaiveTime::from_hms_opt(h, 0, 0)?;
                self.tz.from_local_datetime(&next.and_time(t)).earliest()
            })
            .next()
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|| Utc.from_utc_datetime(&next.and_time(NaiveTime::MIN)));
        start_next - Duration::seconds(1)
    }

    /// Returns the `n`-th working day after `date` (the day itself never counts). For `n == 0`,
    /// returns `date` if it is a working day, otherwise the next working day.
    pub fn nth_working_day_after(&self, date: NaiveDate, n: u32) -> NaiveDate {
        let mut d = date;
        if n == 0 {
            let mut scanned = 0;
            while !self.is_working_day(d) && scanned < MAX_SCAN_DAYS {
                d = d.succ_opt().unwrap_or(d);
                scanned += 1;
            }
            return d;
        }
        let mut left = n;
        let mut scanned = 0;
        while left > 0 && scanned < MAX_SCAN_DAYS.saturating_mul(n.max(1)) {
            d = d.succ_opt().unwrap_or(d);
            scanned += 1;
            if self.is_working_day(d) {
                left -= 1;
            }
        }
        d
    }

    /// Returns the deadline `n` working days after `start`: the end of the `n`-th working day
    /// after the local day of `start`. A start on a non-working day or after hours is counted the
    /// same way, so the deadline always ends a working day.
    pub fn add_working_days(&self, start: DateTime<Utc>, n: u32) -> DateTime<Utc> {
        self.end_of_day(self.nth_working_day_after(self.local_date(start), n))
    }

    /// Returns the end of the local day `n` calendar days after the local day of `start`.
    pub fn add_calendar_days(&self, start: DateTime<Utc>, n: u32) -> DateTime<Utc> {
        let d = self.local_date(start) + Duration::days(i64::from(n));
        self.end_of_day(d)
    }

    /// Counts whole calendar days from the local day of `from` to the local day of `to`.
    pub fn calendar_days_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> u32 {
        let days = (self.local_date(to) - self.local_date(from)).num_days();
        u32::try_from(days.max(0)).unwrap_or(u32::MAX)
    }

    fn at_local(&self, date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
        let local = date.and_time(time);
        self.tz
            .from_local_datetime(&local)
            .earliest()
            .map_or_else(|| Utc.from_utc_datetime(&local), |t| t.with_timezone(&Utc))
    }

    /// Returns the instant when `minutes` of office time have passed after `start`, counting only
    /// office hours of working days. A start outside office hours counts from the next opening.
    pub fn add_working_minutes(&self, start: DateTime<Utc>, minutes: u32) -> DateTime<Utc> {
        let mut left = i64::from(minutes);
        let mut day = self.local_date(start);
        let mut from = start;
        for _ in 0..MAX_SCAN_DAYS.saturating_mul(4) {
            if self.is_working_day(day) {
                let (open, close) = (self.at_local(day, self.open), self.at_local(day, self.close));
                let cur = from.max(open);
                if cur < close {
                    let avail = (close - cur).num_minutes();
                    if left <= avail {
                        return cur + Duration::minutes(left);
                    }
                    left -= avail;
                }
            }
            day = day.succ_opt().unwrap_or(day);
            from = self.at_local(day, NaiveTime::MIN);
        }
        from
    }

    /// Counts the office minutes (working days only) between two instants.
    pub fn working_minutes_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> u32 {
        if to <= from {
            return 0;
        }
        let mut total = 0i64;
        let mut day = self.local_date(from);
        let last = self.local_date(to);
        while day <= last {
            if self.is_working_day(day) {
                let (open, close) = (self.at_local(day, self.open), self.at_local(day, self.close));
                let (a, b) = (from.max(open), to.min(close));
                if a < b {
                    total += (b - a).num_minutes();
                }
            }
            match day.succ_opt() {
                Some(d) => day = d,
                None => break,
            }
        }
        u32::try_from(total).unwrap_or(u32::MAX)
    }

    /// Counts the working days strictly after the local day of `from` up to and including the
    /// local day of `to` (0 when `to` is not later).
    pub fn working_days_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> u32 {
        let (a, b) = (self.local_date(from), self.local_date(to));
        let mut n = 0;
        let mut d = a;
        while d < b {
            d = d.succ_opt().unwrap_or(b);
            if self.is_working_day(d) {
                n += 1;
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn bontang(holidays: &[(i32, u32, u32)]) -> Calendar {
        let spec = CalendarSpec {
            holidays: holidays
                .iter()
                .map(|&(y, m, d)| Holiday {
                    date: NaiveDate::from_ymd_opt(y, m, d).unwrap(),
                    name: "libur".into(),
                    source: "test".into(),
                })
                .collect(),
            ..CalendarSpec::default()
        };
        Calendar::from_spec(&spec).unwrap()
    }

    fn wita(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        chrono_tz::Asia::Makassar
            .with_ymd_and_hms(y, m, d, h, min, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn local(c: &Calendar, t: DateTime<Utc>) -> String {
        t.with_timezone(&c.time_zone())
            .format("%a %Y-%m-%d %H:%M:%S")
            .to_string()
    }

    #[test]
    fn hand_checked_deadlines() {
        // 2026-11-27 is a Friday.
        let c = bontang(&[(2026, 12, 25)]);
        let cases = [
            // (start, working days, expected local deadline)
            (wita(2026, 11, 27, 10, 0), 3, "Wed 2026-12-02 23:59:59"),
            (wita(2026, 11, 28, 10, 0), 3, "Wed 2026-12-02 23:59:59"), // Saturday start
            (wita(2026, 11, 29, 23, 30), 1, "Mon 2026-11-30 23:59:59"), // Sunday night
            (wita(2026, 11, 30, 0, 0), 5, "Mon 2026-12-07 23:59:59"),
            (wita(2026, 12, 23, 9, 0), 3, "Tue 2026-12-29 23:59:59"), // across Christmas (Fri 12-25)
            (wita(2026, 12, 24, 9, 0), 1, "Mon 2026-12-28 23:59:59"),
        ];
        for (start, n, want) in cases {
            assert_eq!(
                local(&c, c.add_working_days(start, n)),
                want,
                "start {start} n {n}"
            );
        }
    }

    #[test]
    fn utc_instant_uses_city_date() {
        // 2026-11-27 17:30 UTC is Saturday 01:30 WITA: counting starts from Saturday.
        let c = bontang(&[]);
        let start = Utc.with_ymd_and_hms(2026, 11, 27, 17, 30, 0).unwrap();
        assert_eq!(local(&c, c.add_working_days(start, 1)), "Mon 2026-11-30 23:59:59");
        // The same instant in Jakarta (WIB) is still Saturday 00:30.
        let jkt = Calendar::from_spec(&CalendarSpec {
            time_zone: "Asia/Jakarta".into(),
            ..CalendarSpec::default()
        })
        .unwrap();
        assert_eq!(
            jkt.local_date(start),
            NaiveDate::from_ymd_opt(2026, 11, 28).unwrap()
        );
    }

    #[test]
    fn rejects_bad_specs() {
        let bad_tz = CalendarSpec {
            time_zone: "Mars/Olympus".into(),
            ..CalendarSpec::default()
        };
        assert!(matches!(
            Calendar::from_spec(&bad_tz),
            Err(CalendarError::UnknownTimeZone(_))
        ));
        let none = CalendarSpec {
            working_weekdays: vec![],
            ..CalendarSpec::default()
        };
        assert_eq!(Calendar::from_spec(&none), Err(CalendarError::NoWorkingWeekday));
    }

    proptest! {
        #[test]
        fn deadline_is_end_of_a_working_day_and_monotonic(
            secs in 1_700_000_000i64..1_900_000_000i64,
            n in 0u32..40,
            hol in proptest::collection::vec(0u32..60, 0..15),
        ) {
            let start = DateTime::from_timestamp(secs, 0).unwrap();
            let base = NaiveDate::from_ymd_opt(2023, 11, 1).unwrap();
            let spec = CalendarSpec {
                holidays: hol.iter().map(|o| Holiday {
                    date: c_date(start, *o, base),
                    name: "h".into(), source: String::new(),
                }).collect(),
                ..CalendarSpec::default()
            };
            let c = Calendar::from_spec(&spec).unwrap();
            let due = c.add_working_days(start, n);
            prop_assert!(c.is_working_day(c.local_date(due)));
            prop_assert!(due >= start);
            // n = 0 and n = 1 coincide for a start on a non-working day; from there on it grows.
            prop_assert!(c.add_working_days(start, n + 2) > c.add_working_days(start, n + 1));
            prop_assert!(c.add_working_days(start, n + 1) >= due);
            prop_assert_eq!(c.local_date(due + Duration::seconds(1)), c.local_date(due).succ_opt().unwrap());
            if n > 0 {
                prop_assert_eq!(c.working_days_between(start, due), n);
            }
        }
    }

    fn c_date(start: DateTime<Utc>, offset: u32, _base: NaiveDate) -> NaiveDate {
        start.with_timezone(&chrono_tz::Asia::Makassar).date_naive() + Duration::days(i64::from(offset))
    }
}
