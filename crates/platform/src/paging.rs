//! Cursor pagination helpers shared by the list RPCs.

use lapor_domain::Violations;

/// Reads a requested page size: 0 means `default`; above `max` records a violation of
/// `page_size` in `v` (and returns `default`, so other fields are still checked).
pub fn page_size(n: u32, default: u64, max: u32, v: &mut Violations) -> u64 {
    match n {
        0 => default,
        n if n <= max => u64::from(n),
        _ => {
            v.add("page_size", format!("must be between 0 and {max}"));
            default
        }
    }
}

/// Splits rows fetched with `limit + 1` into the page and the next page's token (empty on the last
/// page): the extra row only tells that another page exists.
pub fn split_page<T>(mut rows: Vec<T>, limit: u64, token_of: impl Fn(&T) -> String) -> (Vec<T>, String) {
    let more = rows.len() as u64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next = match (more, rows.last()) {
        (true, Some(last)) => token_of(last),
        _ => String::new(),
    };
    (rows, next)
}

#[cfg(test)]
mod tests {
    use super::{page_size, split_page};

    #[test]
    fn sizes() {
        let mut v = lapor_domain::Violations::new();
        assert_eq!(page_size(0, 50, 200, &mut v), 50);
        assert_eq!(page_size(7, 50, 200, &mut v), 7);
        assert!(v.is_empty());
        assert_eq!(page_size(201, 50, 200, &mut v), 50);
        assert_eq!(v.0[0].field, "page_size");
    }

    #[test]
    fn pages() {
        assert_eq!(
            split_page(vec![1, 2, 3], 2, |x| x.to_string()),
            (vec![1, 2], "2".to_owned())
        );
        assert_eq!(
            split_page(vec![1, 2], 2, |x| x.to_string()),
            (vec![1, 2], String::new())
        );
        assert_eq!(
            split_page(Vec::<i32>::new(), 2, |x| x.to_string()),
            (vec![], String::new())
        );
    }
}
