//! Reads Postgres' stored expression trees (`pg_node_tree` text such as
//! `{OPEXPR :opno 98 :args ({VAR ...} {FUNCEXPR :funcid 2049 ...})}`) just
//! far enough to find function calls that run once per row although they
//! depend on no column (calls outside any sub-select whose arguments contain
//! no column reference, for `tenant_check`), and which functions and columns
//! an expression uses (for `tables::adopt`). The node names used here
//! (FUNCEXPR, VAR, SUBLINK) are the same in every supported Postgres version.

/// A parsed node tree value.
#[derive(Debug, PartialEq)]
pub enum Value {
    Node {
        kind: String,
        fields: Vec<(String, Value)>,
    },
    List(Vec<Value>),
    Atom(String),
}

/// Parses node-tree text; None when it is not well formed.
pub fn parse(text: &str) -> Option<Value> {
    let tokens = tokenize(text);
    let mut pos = 0;
    let value = parse_value(&tokens, &mut pos)?;
    (pos == tokens.len()).then_some(value)
}

fn tokenize(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars();
    while let Some(ch) = chars.next() {
        match ch {
            '\\' => {
                if let Some(escaped) = chars.next() {
                    current.push(escaped);
                }
            }
            '{' | '}' | '(' | ')' => {
                if !current.is_empty() {
                    tokens.push(std::mem::take(&mut current));
                }
                tokens.push(ch.to_string());
            }
            c if c.is_whitespace() => {
                if !current.is_empty() {
                    tokens.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        tokens.push(current);
    }
    tokens
}

fn parse_value(tokens: &[String], pos: &mut usize) -> Option<Value> {
    let token = tokens.get(*pos)?;
    *pos += 1;
    match token.as_str() {
        "{" => {
            let kind = tokens.get(*pos)?.clone();
            *pos += 1;
            let mut fields = Vec::new();
            while tokens.get(*pos)? != "}" {
                let key = tokens.get(*pos)?.clone();
                *pos += 1;
                // A field's value is absent when the next token is the next key.
                let value = match tokens.get(*pos)? {
                    t if t.starts_with(':') || t == "}" => Value::Atom(String::new()),
                    _ => parse_value(tokens, pos)?,
                };
                fields.push((key, value));
            }
            *pos += 1;
            Some(Value::Node { kind, fields })
        }
        "(" => {
            let mut items = Vec::new();
            while tokens.get(*pos)? != ")" {
                items.push(parse_value(tokens, pos)?);
            }
            *pos += 1;
            Some(Value::List(items))
        }
        "}" | ")" => None,
        atom => {
            // A datum is printed as `length [ byte byte ... ]`: keep it whole.
            if tokens.get(*pos).is_some_and(|t| t == "[") {
                let close = tokens[*pos..].iter().position(|t| t == "]")? + *pos;
                *pos = close + 1;
            }
            Some(Value::Atom(atom.to_string()))
        }
    }
}

/// Function ids (`funcid`) of calls that do not depend on any column and are
/// not inside a sub-select: each runs once per row where wrapping it in
/// `(SELECT ...)` would run it once per statement. Only the outermost such
/// call of a subtree is reported.
pub fn per_row_constant_calls(tree: &Value) -> Vec<u32> {
    let mut found = Vec::new();
    walk(tree, &mut found);
    found
}

/// Returns whether `value` references a column, collecting candidate calls.
fn walk(value: &Value, found: &mut Vec<u32>) -> bool {
    match value {
        Value::Atom(_) => false,
        Value::List(items) => items
            .iter()
            .fold(false, |any, item| walk(item, found) | any),
        Value::Node { kind, fields } => match kind.as_str() {
            // A sub-select is planned separately (an InitPlan when it is
            // uncorrelated): what is inside runs once per statement.
            "SUBLINK" => false,
            "VAR" => true,
            "FUNCEXPR" => {
                let mut inner = Vec::new();
                let uses_column = fields
                    .iter()
                    .fold(false, |any, (_, v)| walk(v, &mut inner) | any);
                if uses_column {
                    found.extend(inner);
                } else if let Some(id) = field(fields, ":funcid").and_then(|v| v.parse().ok()) {
                    found.push(id);
                }
                uses_column
            }
            _ => fields
                .iter()
                .fold(false, |any, (_, v)| walk(v, found) | any),
        },
    }
}

/// Whether the expression calls one of `functions` (by `funcid`), anywhere,
/// sub-selects included.
pub fn calls_any(tree: &Value, functions: &[u32]) -> bool {
    match tree {
        Value::Atom(_) => false,
        Value::List(items) => items.iter().any(|item| calls_any(item, functions)),
        Value::Node { kind, fields } => {
            (kind == "FUNCEXPR"
                && field(fields, ":funcid")
                    .and_then(|v| v.parse::<u32>().ok())
                    .is_some_and(|id| functions.contains(&id)))
                || fields.iter().any(|(_, v)| calls_any(v, functions))
        }
    }
}

/// Whether the expression reads column `attnum` of the table it belongs to
/// (a `Var` of level 0 outside sub-selects, of the same level inside them).
pub fn references_column(tree: &Value, attnum: i16) -> bool {
    references_column_at(tree, attnum, 0)
}

fn references_column_at(tree: &Value, attnum: i16, depth: u32) -> bool {
    match tree {
        Value::Atom(_) => false,
        Value::List(items) => items
            .iter()
            .any(|item| references_column_at(item, attnum, depth)),
        Value::Node { kind, fields } => match kind.as_str() {
            "VAR" => {
                field(fields, ":varattno").and_then(|v| v.parse::<i16>().ok()) == Some(attnum)
                    && field(fields, ":varlevelsup").and_then(|v| v.parse::<u32>().ok())
                        == Some(depth)
                    && field(fields, ":varno") == Some("1")
            }
            // The sub-select's own Vars are one level further from the table.
            "QUERY" => fields
                .iter()
                .any(|(_, v)| references_column_at(v, attnum, depth + 1)),
            _ => fields
                .iter()
                .any(|(_, v)| references_column_at(v, attnum, depth)),
        },
    }
}

fn field<'a>(fields: &'a [(String, Value)], key: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == key)
        .and_then(|(_, v)| match v {
            Value::Atom(a) => Some(a.as_str()),
            _ => None,
        })
}

/// Wraps every call of `function` in `expression` (deparsed SQL) that is not
/// wrapped yet in `(SELECT ...)`. None when no such call can be found.
pub fn wrap_calls(expression: &str, function: &str) -> Option<String> {
    let mut text = expression.to_string();
    let mut from = 0;
    let mut wrapped_any = false;
    while let Some((wrapped, resume)) = wrap_call_from(&text, function, from) {
        text = wrapped;
        from = resume;
        wrapped_any = true;
    }
    wrapped_any.then_some(text)
}

/// Wraps the first call at or after byte `from` that is not
/// already `(SELECT f(...))`; also returns where the wrapped call ends.
fn wrap_call_from(expression: &str, function: &str, from: usize) -> Option<(String, usize)> {
    let needle = format!("{function}(");
    let mut search = from;
    let mut start = loop {
        let at = expression[search..].find(&needle)? + search;
        // A name that merely ends in `function` (my_current_setting) is not a call of it.
        let prev = expression[..at].chars().last();
        let part_of_name = prev.is_some_and(|c| c.is_alphanumeric() || c == '_');
        if !part_of_name
            && !expression[..at]
                .trim_end_matches(|c: char| c == '.' || c.is_alphanumeric() || c == '_' || c == '"')
                .ends_with("(SELECT ")
        {
            break at;
        }
        search = at + needle.len();
    };
    // Include a schema qualification such as `public.`.
    while start > 0 {
        let before = expression[..start].chars().last()?;
        if before.is_alphanumeric() || before == '_' || before == '.' || before == '"' {
            start -= before.len_utf8();
        } else {
            break;
        }
    }
    let open = expression[start..].find('(')? + start;
    let mut depth = 0;
    let mut end = None;
    let mut in_string = false;
    for (i, ch) in expression[open..].char_indices() {
        match ch {
            '\'' => in_string = !in_string,
            '(' if !in_string => depth += 1,
            ')' if !in_string => {
                depth -= 1;
                if depth == 0 {
                    end = Some(open + i + 1);
                    break;
                }
            }
            _ => {}
        }
    }
    let end = end?;
    Some((
        format!(
            "{}(SELECT {}){}",
            &expression[..start],
            &expression[start..end],
            &expression[end..]
        ),
        end + "(SELECT )".len(),
    ))
}

#[cfg(test)]
mod unit_tests {
    use super::*;

    // tenant_id = current_setting('app.current_tenant')::uuid, as Postgres 15 stores it (shortened).
    const PER_ROW: &str = r#"{OPEXPR :opno 2972 :opfuncid 2956 :opresulttype 16 :opretset false :opcollid 0 :inputcollid 0 :args ({VAR :varno 1 :varattno 2 :vartype 2950 :vartypmod -1 :varcollid 0 :varlevelsup 0 :varnosyn 1 :varattnosyn 2 :location 41} {COERCEVIAIO :arg {FUNCEXPR :funcid 2077 :funcresulttype 25 :funcretset false :funcvariadic false :funcformat 0 :funccollid 100 :inputcollid 100 :args ({CONST :consttype 25 :consttypmod -1 :constcollid 100 :constlen -1 :constbyval false :constisnull false :location 69 :constvalue 22 [ 88 0 0 0 97 112 112 46 99 117 114 114 101 110 116 95 116 101 110 97 110 116 ]}) :location 53} :resulttype 2950 :resultcollid 0 :coerceformat 1 :location 89}) :location 51}"#;

    // tenant_id = (SELECT current_tenant_id()), shortened.
    const ONCE: &str = r#"{OPEXPR :opno 2972 :opfuncid 2956 :args ({VAR :varno 1 :varattno 2 :location 41} {SUBLINK :subLinkType 4 :subLinkId 0 :testexpr <> :operName <> :subselect {QUERY :commandType 1 :targetList ({TARGETENTRY :expr {FUNCEXPR :funcid 16400 :args <> :location 60} :resno 1 :resname current_tenant_id}) } :location 52}) :location 51}"#;

    #[test]
    fn finds_a_column_free_call_outside_sub_selects() {
        assert_eq!(per_row_constant_calls(&parse(PER_ROW).unwrap()), vec![2077]);
    }

    #[test]
    fn calls_inside_sub_selects_run_once() {
        assert!(per_row_constant_calls(&parse(ONCE).unwrap()).is_empty());
    }

    #[test]
    fn calls_on_columns_are_not_reported() {
        let lower_name =
            r#"{FUNCEXPR :funcid 870 :args ({VAR :varno 1 :varattno 3 :location 9}) :location 3}"#;
        assert!(per_row_constant_calls(&parse(lower_name).unwrap()).is_empty());
    }

    #[test]
    fn datums_of_any_length_keep_fields_aligned() {
        let odd = r#"{FUNCEXPR :funcid 9 :args ({CONST :constlen -1 :constvalue 5 [ 20 0 0 0 97 ] :location 4}) :location 2}"#;
        assert_eq!(per_row_constant_calls(&parse(odd).unwrap()), vec![9]);
    }

    #[test]
    fn escaped_braces_do_not_confuse_the_parser() {
        let tree = r#"{FUNCEXPR :funcid 7 :args ({CONST :constvalue \{odd\}}) :location 1}"#;
        assert_eq!(per_row_constant_calls(&parse(tree).unwrap()), vec![7]);
        assert!(parse("{FUNCEXPR :funcid").is_none());
    }

    #[test]
    fn wraps_the_call_in_a_sub_select() {
        assert_eq!(
            wrap_calls(
                "(tenant_id = (current_setting('app.current_tenant'::text))::uuid)",
                "current_setting"
            )
            .as_deref(),
            Some("(tenant_id = ((SELECT current_setting('app.current_tenant'::text)))::uuid)")
        );
        assert_eq!(
            wrap_calls(
                "(tenant_id = public.current_tenant_id())",
                "current_tenant_id"
            )
            .as_deref(),
            Some("(tenant_id = (SELECT public.current_tenant_id()))")
        );
        assert_eq!(wrap_calls("(a = b)", "missing"), None);
        assert_eq!(
            wrap_calls(
                "((a = (current_setting('x'::text))::uuid) AND (b = ((SELECT current_setting('y'::text)))::uuid) AND (c = my_current_setting()) AND (d = (current_setting('z'::text))::uuid))",
                "current_setting"
            )
            .as_deref(),
            Some("((a = ((SELECT current_setting('x'::text)))::uuid) AND (b = ((SELECT current_setting('y'::text)))::uuid) AND (c = my_current_setting()) AND (d = ((SELECT current_setting('z'::text)))::uuid))")
        );
        assert_eq!(
            wrap_calls(
                "(b = (SELECT current_setting('y'::text)))",
                "current_setting"
            ),
            None
        );
    }
}
