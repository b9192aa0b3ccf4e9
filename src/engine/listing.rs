//! Pages of what the caller may see. A list is cut into pages *after* it is filtered by what the
//! caller may read, so neither the items nor the `next_cursor` of a page name anything hidden:
//! the cursor is the id of the last item the caller saw (reference §7, "Lists"). Without this,
//! `?limit=1` would walk the ids of roles and clients the caller may not read.

use std::future::Future;

use crate::domain::Page;
use crate::store::StoreError;

/// Up to `page.clamped_limit()` items that pass `visible`, read in the store's order after
/// `page.after` with `fetch` (called with successive full-size store pages until the page is full
/// or the store runs out), and the cursor of the next page: the id of the last visible item when
/// the page is full, else none.
pub async fn visible_page<T, F, Fut>(
    page: &Page,
    mut fetch: F,
    visible: impl Fn(&T) -> bool,
    id: impl Fn(&T) -> &str,
) -> Result<(Vec<T>, Option<String>), StoreError>
where
    F: FnMut(Page) -> Fut,
    Fut: Future<Output = Result<Vec<T>, StoreError>>,
{
    let limit = page.clamped_limit() as usize;
    let mut items = Vec::new();
    let mut after = page.after.clone();
    loop {
        let batch = fetch(Page {
            limit: Page::MAX_LIMIT,
            after: after.clone(),
        })
        .await?;
        let more = batch.len() >= Page::MAX_LIMIT as usize;
        after = batch.last().map(|item| id(item).to_owned());
        for item in batch {
            if !visible(&item) {
                continue;
            }
            items.push(item);
            if items.len() == limit {
                let next = items.last().map(|item| id(item).to_owned());
                return Ok((items, next));
            }
        }
        if !more {
            return Ok((items, None));
        }
    }
}

/// The same cut for a list already in memory and in id order (a user's few roles, say).
pub fn visible_slice<T>(
    all: Vec<T>,
    page: &Page,
    visible: impl Fn(&T) -> bool,
    id: impl Fn(&T) -> &str,
) -> (Vec<T>, Option<String>) {
    let limit = page.clamped_limit() as usize;
    let items: Vec<T> = all
        .into_iter()
        .filter(|item| page.after.as_deref().is_none_or(|after| id(item) > after))
        .filter(|item| visible(item))
        .take(limit)
        .collect();
    let next = (items.len() == limit)
        .then(|| items.last().map(|item| id(item).to_owned()))
        .flatten();
    (items, next)
}

/// The cursor of the next page of a list the caller may read whole: the last id when the page
/// was full, else none.
pub fn next_cursor<T>(items: &[T], page: &Page, id: impl Fn(&T) -> &str) -> Option<String> {
    if items.len() as u32 >= page.clamped_limit() {
        items.last().map(|item| id(item).to_owned())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("r{i:04}")).collect()
    }

    async fn fetch_from(all: &[String], page: Page) -> Result<Vec<String>, StoreError> {
        Ok(all
            .iter()
            .filter(|id| page.after.as_deref().is_none_or(|a| id.as_str() > a))
            .take(page.clamped_limit() as usize)
            .cloned()
            .collect())
    }

    #[tokio::test]
    async fn cursors_name_only_visible_items_across_store_pages() {
        let all = ids(450);
        // Only every 97th id is visible: the visible ones are spread over several store pages.
        let visible = |id: &String| id[1..].parse::<usize>().is_ok_and(|n| n % 97 == 0);
        let mut seen = Vec::new();
        let mut page = Page::first(2);
        loop {
            let (items, next) =
                visible_page(&page, |p| fetch_from(&all, p), visible, |s| s.as_str())
                    .await
                    .unwrap();
            assert!(items.iter().all(visible));
            if let Some(cursor) = &next {
                assert!(visible(cursor), "cursor {cursor} names a hidden item");
            }
            seen.extend(items);
            match next {
                Some(cursor) => page = Page::after(2, cursor),
                None => break,
            }
        }
        assert_eq!(seen, ["r0000", "r0097", "r0194", "r0291", "r0388"]);
    }

    #[test]
    fn slices_cut_after_filtering() {
        let all = ids(10);
        let (items, next) = visible_slice(
            all,
            &Page::after(2, "r0001"),
            |id| id.as_str() != "r0002",
            |s| s.as_str(),
        );
        assert_eq!(items, ["r0003", "r0004"]);
        assert_eq!(next.as_deref(), Some("r0004"));
    }
}
