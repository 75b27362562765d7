//! Just enough XML for the proxy's rewrites: a flat element index over a response
//! body (names, nesting and byte ranges), and edits applied to the original text, so
//! everything the proxy does not touch stays byte for byte what moto sent.

use std::ops::Range;

/// One element: its name, where it starts and ends, and where its content is.
#[derive(Debug)]
pub(crate) struct Elem {
    pub name: String,
    /// From its `<` to the end of its closing tag.
    pub outer: Range<usize>,
    /// Between its tags; `None` for `<name/>`.
    pub inner: Option<Range<usize>>,
    pub parent: Option<usize>,
    pub children: Vec<usize>,
}

/// The elements of a document, in document order.
#[derive(Debug)]
pub(crate) struct Doc<'a> {
    pub text: &'a str,
    pub elems: Vec<Elem>,
}

impl<'a> Doc<'a> {
    /// Indexes a document; `None` when its tags do not nest (not XML the proxy knows).
    pub(crate) fn parse(text: &'a str) -> Option<Doc<'a>> {
        let mut elems: Vec<Elem> = Vec::new();
        let mut open: Vec<usize> = Vec::new();
        let mut at = 0;
        while let Some(offset) = text[at..].find('<') {
            let start = at + offset;
            let rest = &text[start..];
            if rest.starts_with("<?") {
                at = start + rest.find("?>")? + 2;
                continue;
            }
            if rest.starts_with("<!--") {
                at = start + rest.find("-->")? + 3;
                continue;
            }
            if rest.starts_with("<![CDATA[") {
                at = start + rest.find("]]>")? + 3;
                continue;
            }
            let end = start + rest.find('>')? + 1;
            let tag = &text[start + 1..end - 1];
            if let Some(name) = tag.strip_prefix('/') {
                let index = open.pop()?;
                let elem = &mut elems[index];
                if elem.name != name.trim() {
                    return None;
                }
                let content_start = elem.inner.as_ref().map(|r| r.start)?;
                elem.inner = Some(content_start..start);
                elem.outer.end = end;
            } else {
                let self_closing = tag.ends_with('/');
                let name = tag
                    .trim_end_matches('/')
                    .split(|c: char| c.is_whitespace())
                    .next()
                    .unwrap_or_default()
                    .to_string();
                let index = elems.len();
                let parent = open.last().copied();
                if let Some(p) = parent {
                    elems[p].children.push(index);
                }
                elems.push(Elem {
                    name,
                    outer: start..end,
                    inner: if self_closing { None } else { Some(end..end) },
                    parent,
                    children: Vec::new(),
                });
                if !self_closing {
                    open.push(index);
                }
            }
            at = end;
        }
        if open.is_empty() {
            Some(Doc { text, elems })
        } else {
            None
        }
    }

    /// The text of a leaf element (`""` for `<name/>`), unescaped.
    pub(crate) fn text(&self, index: usize) -> String {
        let elem = &self.elems[index];
        match &elem.inner {
            Some(r) if elem.children.is_empty() => unescape(&self.text[r.clone()]),
            _ => String::new(),
        }
    }

    /// Every element named `name`, in document order.
    pub(crate) fn named(&self, name: &str) -> impl Iterator<Item = usize> + '_ {
        let name = name.to_string();
        (0..self.elems.len()).filter(move |i| self.elems[*i].name == name)
    }

    /// The `n`-th ancestor.
    pub(crate) fn up(&self, mut index: usize, n: usize) -> Option<usize> {
        for _ in 0..n {
            index = self.elems[index].parent?;
        }
        Some(index)
    }

    /// The first descendant along a path of child names.
    pub(crate) fn path(&self, mut index: usize, path: &[&str]) -> Option<usize> {
        for step in path {
            index = *self.elems[index]
                .children
                .iter()
                .find(|c| self.elems[**c].name == *step)?;
        }
        Some(index)
    }

    /// The text of the child along `path`, if any.
    pub(crate) fn child_text(&self, index: usize, path: &[&str]) -> Option<String> {
        self.path(index, path).map(|i| self.text(i))
    }

    /// The element's whole text, tags included.
    pub(crate) fn outer(&self, index: usize) -> &'a str {
        &self.text[self.elems[index].outer.clone()]
    }
}

/// Replacements of byte ranges of one text, applied together.
#[derive(Debug, Default)]
pub(crate) struct Edits(Vec<(Range<usize>, String)>);

impl Edits {
    /// Sets a leaf element's text (escaped).
    pub(crate) fn set_text(&mut self, doc: &Doc, index: usize, value: &str) {
        self.set_inner(doc, index, &escape(value));
    }

    /// Replaces an element's content with raw XML.
    pub(crate) fn set_inner(&mut self, doc: &Doc, index: usize, raw: &str) {
        let elem = &doc.elems[index];
        match &elem.inner {
            Some(r) => self.0.push((r.clone(), raw.to_string())),
            None => self
                .0
                .push((elem.outer.clone(), format!("<{0}>{raw}</{0}>", elem.name))),
        }
    }

    /// Inserts raw XML at a byte offset.
    pub(crate) fn insert(&mut self, at: usize, raw: &str) {
        self.0.push((at..at, raw.to_string()));
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The text with every edit made; overlapping edits keep the first given.
    pub(crate) fn apply(mut self, text: &str) -> String {
        self.0.sort_by_key(|(r, _)| (r.start, r.end));
        let mut out = String::with_capacity(text.len() + 64);
        let mut at = 0;
        for (range, with) in self.0 {
            if range.start < at {
                continue;
            }
            out.push_str(&text[at..range.start]);
            out.push_str(&with);
            at = range.end;
        }
        out.push_str(&text[at..]);
        out
    }
}

/// Adds `raw` as the last child of an element (turning `<name/>` into a pair).
pub(crate) fn append_child(edits: &mut Edits, doc: &Doc, index: usize, raw: &str) {
    let elem = &doc.elems[index];
    match &elem.inner {
        Some(r) => edits.insert(r.end, raw),
        None => edits.set_inner(doc, index, raw),
    }
}

pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub(crate) fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_nested_and_empty_elements_and_edits_in_place() {
        let text = "<?xml version=\"1.0\"?>\n<R xmlns=\"x\"><set><item><id>a</id><state>s</state><sub><state>z</state></sub></item><item><id>b</id><state/></item></set></R>";
        let doc = Doc::parse(text).expect("well formed");
        let ids: Vec<usize> = doc.named("id").collect();
        assert_eq!(ids.len(), 2);
        let item = doc.up(ids[1], 1).expect("item");
        let state = doc.path(item, &["state"]).expect("state");
        let mut edits = Edits::default();
        edits.set_text(&doc, state, "p&q");
        let first = doc.up(ids[0], 1).expect("item");
        let s0 = doc.path(first, &["state"]).expect("direct child, not the nested one");
        edits.set_text(&doc, s0, "t");
        let out = edits.apply(text);
        assert!(
            out.contains("<id>a</id><state>t</state><sub><state>z</state></sub>"),
            "{out}"
        );
        assert!(out.contains("<id>b</id><state>p&amp;q</state>"), "{out}");
        assert!(Doc::parse("<a><b></a>").is_none());
    }
}
