//! Cursor pagination helpers shared by the list RPCs.

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
    use super::split_page;

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
