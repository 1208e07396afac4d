//! The tool commands around the core call: `doctor`, `profiles`, `models`, `warm`, `stats`.
//!
//! Each prints a document on stdout (a table, or one JSON object with `--json`) and returns
//! its exit status; none of them sends a prompt.

pub(crate) mod doctor;
pub(crate) mod models;
pub(crate) mod profiles;
mod reach;
pub(crate) mod stats;

pub(crate) use crate::shared::{block_on, secs, table};

#[cfg(test)]
mod tests {
    #[test]
    fn table_aligns_columns_without_trailing_spaces() {
        let t = crate::shared::table(&[vec!["a", "bb", "c"], vec!["ccc", "d", ""]]);
        assert_eq!(t, "a    bb  c\nccc  d\n");
    }
}
