//! The column layout of Go's `text/tabwriter` with `flags == 0` and a space pad character,
//! which is how `hubble observe -o table` aligns its output
//! (`tabwriter.NewWriter(w, minwidth 2, tabwidth 0, padding 3, ' ', 0)`).
//!
//! Lines are given as cells: every cell but the last is tab-terminated and takes part in
//! column alignment; the last is trailing text written as is. Widths count Unicode scalar
//! values, as Go's `utf8.RuneCount` does. Cells must not contain tabs or newlines.

use std::io::{self, Write};

/// Buffered lines laid out on [`TabWriter::flush`].
#[derive(Debug, Clone)]
pub struct TabWriter {
    min_width: usize,
    padding: usize,
    lines: Vec<Vec<String>>,
}

impl TabWriter {
    /// A writer with Go's `minwidth` and `padding`.
    pub fn new(min_width: usize, padding: usize) -> Self {
        TabWriter {
            min_width,
            padding,
            lines: Vec::new(),
        }
    }

    /// Buffers one line (tab-terminated cells followed by the trailing cell).
    pub fn push_line(&mut self, cells: Vec<String>) {
        self.lines.push(cells);
    }

    /// Whether nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Lays out and writes every buffered line (each followed by `\n`), then forgets them.
    pub fn flush<W: Write>(&mut self, out: &mut W) -> io::Result<()> {
        let lines = std::mem::take(&mut self.lines);
        let mut widths = Vec::new();
        self.format(out, &lines, &mut widths, 0, lines.len())
    }

    /// Go's recursive `format`: a column block is a maximal run of consecutive lines that
    /// all have a terminated cell in the current column.
    fn format<W: Write>(
        &self,
        out: &mut W,
        lines: &[Vec<String>],
        widths: &mut Vec<usize>,
        mut line0: usize,
        line1: usize,
    ) -> io::Result<()> {
        let column = widths.len();
        let mut this = line0;
        while this < line1 {
            if column + 1 >= lines[this].len() {
                this += 1;
                continue;
            }
            // Print the lines before the block with the current widths.
            write_lines(out, lines, widths, line0, this)?;
            line0 = this;
            let mut width = self.min_width;
            while this < line1 {
                let line = &lines[this];
                if column + 1 >= line.len() {
                    break;
                }
                let w = line[column].chars().count() + self.padding;
                width = width.max(w);
                this += 1;
            }
            widths.push(width);
            self.format(out, lines, widths, line0, this)?;
            widths.pop();
            line0 = this;
        }
        write_lines(out, lines, widths, line0, line1)
    }
}

fn write_lines<W: Write>(
    out: &mut W,
    lines: &[Vec<String>],
    widths: &[usize],
    line0: usize,
    line1: usize,
) -> io::Result<()> {
    for line in &lines[line0..line1] {
        for (j, cell) in line.iter().enumerate() {
            out.write_all(cell.as_bytes())?;
            if let Some(&width) = widths.get(j) {
                let pad = width.saturating_sub(cell.chars().count());
                write!(out, "{:pad$}", "")?;
            }
        }
        out.write_all(b"\n")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(lines: &[&[&str]]) -> String {
        render_with(TabWriter::new(2, 3), lines)
    }

    fn render_with(mut tw: TabWriter, lines: &[&[&str]]) -> String {
        for l in lines {
            tw.push_line(l.iter().map(|s| s.to_string()).collect());
        }
        let mut out = Vec::new();
        tw.flush(&mut out).expect("flush");
        String::from_utf8(out).expect("utf8")
    }

    #[test]
    fn aligns_columns_with_padding() {
        assert_eq!(
            render(&[&["A", "BB", "tail"], &["CCCC", "D", "x"]]),
            "A      BB   tail\nCCCC   D    x\n"
        );
    }

    #[test]
    fn min_width_applies_to_empty_cells() {
        // Width is max(minwidth, widest cell + padding), so padding wins even here.
        assert_eq!(render(&[&["", "a"], &["", "b"]]), "   a\n   b\n");
        assert_eq!(render_with(TabWriter::new(5, 1), &[&["", "a"]]), "     a\n");
    }

    #[test]
    fn widths_count_characters_not_bytes() {
        assert_eq!(render(&[&["ü", "x"], &["ab", "y"]]), "ü    x\nab   y\n");
    }

    #[test]
    fn blocks_are_runs_of_lines_with_the_column() {
        // The middle line has no terminated cell, so it splits column 0 into two blocks.
        assert_eq!(
            render(&[&["aaaaaa", "1"], &["plain"], &["b", "2"]]),
            "aaaaaa   1\nplain\nb   2\n"
        );
    }
}
