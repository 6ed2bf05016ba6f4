use super::*;

fn run(name: &str, text: &str) -> Vec<Finding> {
    let input = Input {
        path: PathBuf::from(format!("migrations/{name}")),
        bytes: text.as_bytes().to_vec(),
    };
    check(&[input], &[], None, &Config::default()).findings
}

fn rules(findings: &[Finding]) -> Vec<&'static str> {
    findings.iter().map(|f| f.rule).collect()
}

#[test]
fn an_index_on_an_existing_table_names_the_lock() {
    let f = run(
        "20240101000000_i.sql",
        "-- migrate:up\ncreate index orders_status on orders (status);\n-- migrate:down\ndrop index orders_status;\n",
    );
    assert_eq!(rules(&f), ["require-concurrent-index-creation"]);
    assert_eq!((f[0].line, f[0].column), (2, 1));
    assert_eq!(
        f[0].lock_note.as_deref(),
        Some("takes SHARE on orders, held until the migration commits")
    );
}
