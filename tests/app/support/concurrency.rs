//! Running a test's requests at the same time, without another dependency.

#![allow(clippy::unwrap_used)]

/// Runs the futures concurrently and collects their outputs in order.
pub async fn join_all<F, T>(futures: impl Iterator<Item = F>) -> Vec<T>
where
    F: std::future::Future<Output = T>,
{
    let pinned: Vec<std::pin::Pin<Box<F>>> = futures.map(Box::pin).collect();
    let mut slots: Vec<Option<T>> = pinned.iter().map(|_| None).collect();
    let mut pending = pinned;
    std::future::poll_fn(move |cx| {
        let mut done = true;
        for (i, future) in pending.iter_mut().enumerate() {
            if slots[i].is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => slots[i] = Some(value),
                    std::task::Poll::Pending => done = false,
                }
            }
        }
        if done {
            std::task::Poll::Ready(slots.iter_mut().map(|s| s.take().unwrap()).collect())
        } else {
            std::task::Poll::Pending
        }
    })
    .await
}
