//! Parser cases from the Dockerfile reference: continuations, escapes,
//! directives, JSON and shell forms, ARG scoping, heredocs, and the errors
//! (file, line, column; unknown instruction or flag named; ONBUILD refused).

use ferry_build::parse::{CmdForm, Instr, parse};

fn err(src: &str) -> String {
    parse("Dockerfile", src).unwrap_err().to_string()
}

#[test]
fn stages_names_and_meta_args() {
    let df = parse(
        "Dockerfile",
        "ARG BASE=busybox\nARG TAG\nFROM ${BASE}:${TAG:-latest} AS Build\nRUN echo hi\nFROM scratch\nCOPY --from=build /out /out\n",
    )
    .unwrap();
    assert_eq!(df.meta_args.len(), 2);
    assert_eq!(df.meta_args[0].default.as_deref(), Some("busybox"));
    assert_eq!(df.stages.len(), 2);
    assert_eq!(df.stages[0].name.as_deref(), Some("build"));
    assert_eq!(df.stages[0].base, "${BASE}:${TAG:-latest}");
    assert_eq!(df.stage_index("build"), Some(0));
    assert_eq!(df.stage_index("1"), Some(1));
    match &df.stages[1].steps[0].instr {
        Instr::Copy(c) => {
            assert_eq!(c.from.as_deref(), Some("build"));
            assert_eq!(c.srcs, vec!["/out"]);
            assert_eq!(c.dest, "/out");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn exec_and_shell_forms() {
    let df = parse(
        "Dockerfile",
        "FROM a\nRUN [\"/bin/sh\", \"-c\", \"echo hi\"]\nRUN echo \"$HOME\"\nCMD [\"httpd\", \"-f\"]\nENTRYPOINT exec top -b\nCMD [not json\n",
    )
    .unwrap();
    let s = &df.stages[0].steps;
    assert!(
        matches!(&s[0].instr, Instr::Run(r) if r.cmd == CmdForm::Exec(vec!["/bin/sh".into(), "-c".into(), "echo hi".into()]))
    );
    assert!(
        matches!(&s[1].instr, Instr::Run(r) if r.cmd == CmdForm::Shell("echo \"$HOME\"".into()))
    );
    assert!(matches!(&s[2].instr, Instr::Cmd(CmdForm::Exec(v)) if v == &["httpd", "-f"]));
    assert!(matches!(&s[3].instr, Instr::Entrypoint(CmdForm::Shell(v)) if v == "exec top -b"));
    // an invalid JSON array is the shell form, as the reference says
    assert!(matches!(&s[4].instr, Instr::Cmd(CmdForm::Shell(v)) if v == "[not json"));
}

#[test]
fn env_label_forms() {
    let df = parse(
        "Dockerfile",
        "FROM a\nENV MY_NAME=\"John Doe\" MY_DOG=Rex\\ The\\ Dog \\\n    MY_CAT=fluffy\nENV OLD legacy value\nLABEL \"com.example.vendor\"=\"ACME\" version=1.0\n",
    )
    .unwrap();
    let s = &df.stages[0].steps;
    match &s[0].instr {
        Instr::Env(p) => {
            assert_eq!(p.len(), 3);
            assert_eq!(p[0], ("MY_NAME".into(), "\"John Doe\"".into()));
            assert_eq!(p[1], ("MY_DOG".into(), "Rex\\ The\\ Dog".into()));
        }
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(&s[1].instr, Instr::Env(p) if p == &[("OLD".to_string(), "legacy value".to_string())])
    );
    assert!(matches!(&s[2].instr, Instr::Label(p) if p.len() == 2));
}

#[test]
fn heredoc_run_and_copy() {
    let df = parse(
        "Dockerfile",
        "FROM a\nRUN <<EOF\nset -e\necho one > /one\nEOF\nRUN cat <<A > /a\nx\nA\nCOPY <<conf /etc/app.conf\nkey=$V\nconf\n",
    )
    .unwrap();
    let s = &df.stages[0].steps;
    assert!(
        matches!(&s[0].instr, Instr::Run(r) if r.cmd == CmdForm::Shell("set -e\necho one > /one\n".into()))
    );
    assert!(
        matches!(&s[1].instr, Instr::Run(r) if r.cmd == CmdForm::Shell("cat <<A > /a\nx\nA".into()))
    );
    match &s[2].instr {
        Instr::Copy(c) => {
            assert_eq!(c.srcs, vec!["<<conf"]);
            assert_eq!(c.heredocs[0].content, "key=$V\n");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn flags_and_healthcheck() {
    let df = parse(
        "Dockerfile",
        "FROM --platform=linux/amd64 a\nRUN --mount=type=cache,target=/c --network=none true\nCOPY --chown=1:2 --chmod=644 a* /d/\nHEALTHCHECK --interval=5m --timeout=3s --retries=2 CMD curl -f http://localhost/ || exit 1\nSTOPSIGNAL SIGTERM\nSHELL [\"/bin/ash\", \"-eo\", \"pipefail\", \"-c\"]\n",
    )
    .unwrap();
    assert_eq!(df.stages[0].platform.as_deref(), Some("linux/amd64"));
    let s = &df.stages[0].steps;
    assert!(
        matches!(&s[0].instr, Instr::Run(r) if r.mounts == ["type=cache,target=/c"] && r.network.as_deref() == Some("none"))
    );
    assert!(
        matches!(&s[1].instr, Instr::Copy(c) if c.chown.as_deref() == Some("1:2") && c.chmod.as_deref() == Some("644"))
    );
    match &s[2].instr {
        Instr::Healthcheck(Some(h)) => {
            assert_eq!(h.interval, Some(std::time::Duration::from_secs(300)));
            assert_eq!(h.timeout, Some(std::time::Duration::from_secs(3)));
            assert_eq!(h.retries, Some(2));
            assert_eq!(h.test[0], "CMD-SHELL");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(&s[4].instr, Instr::Shell(v) if v.len() == 4));
}

#[test]
fn escape_directive_backtick() {
    let df = parse(
        "Dockerfile",
        "# escape=`\nFROM a\nCOPY testfile.txt c:\\\nRUN dir c:\\ `\n  && echo ok\n",
    )
    .unwrap();
    assert_eq!(df.escape, '`');
    assert!(matches!(&df.stages[0].steps[0].instr, Instr::Copy(c) if c.dest == "c:\\"));
    assert!(
        matches!(&df.stages[0].steps[1].instr, Instr::Run(r) if r.cmd == CmdForm::Shell("dir c:\\ && echo ok".into()))
    );
}

#[test]
fn case_insensitive_keywords_and_maintainer() {
    let df = parse(
        "Dockerfile",
        "from a as B\nrun true\nMAINTAINER me <me@example.invalid>\n",
    )
    .unwrap();
    assert_eq!(df.stages[0].name.as_deref(), Some("b"));
    assert_eq!(df.stages[0].steps.len(), 2);
}

#[test]
fn unknown_instruction_has_position_and_suggestion() {
    let e = err("FROM a\n\n  RUNN echo\n");
    assert_eq!(
        e,
        "Dockerfile:3:3: unknown instruction `RUNN` (did you mean `RUN`?)"
    );
}

#[test]
fn unknown_flag_is_named() {
    let e = err("FROM a\nCOPY --chwon=1 a b\n");
    assert!(
        e.starts_with("Dockerfile:2:6: unknown flag `--chwon` for COPY"),
        "{e}"
    );
    assert!(e.ends_with("(did you mean `--chown`?)"), "{e}");
    let e = err("FROM a\nADD --checksum=sha256:00 a b\n");
    assert!(
        e.starts_with("Dockerfile:2:5: ADD --checksum is not supported"),
        "{e}"
    );
    let e = err("FROM a\nRUN --security=insecure true\n");
    assert!(e.contains("RUN --security is not supported"), "{e}");
    let df = parse(
        "Dockerfile",
        "FROM a\nCOPY --exclude=*.md --exclude=tmp --link . /app/\n",
    )
    .unwrap();
    assert!(matches!(&df.stages[0].steps[0].instr, Instr::Copy(c) if c.exclude == ["*.md", "tmp"]));
    let e = err("FROM a\nWORKDIR --x /a\n");
    assert!(e.contains("WORKDIR takes no flags"), "{e}");
}

#[test]
fn onbuild_is_refused_clearly() {
    let e = err("FROM a\nONBUILD RUN true\n");
    assert!(
        e.starts_with("Dockerfile:2:1: ONBUILD is not supported"),
        "{e}"
    );
}

#[test]
fn structural_errors() {
    assert!(err("RUN true\n").contains("RUN before the first FROM"));
    assert!(err("# only a comment\n").contains("no FROM instruction"));
    assert!(
        err("FROM a AS x\nFROM b AS x\n")
            .starts_with("Dockerfile:2:1: stage name `x` is used twice")
    );
    assert!(err("FROM a\nCOPY onlyone\n").contains("at least one source"));
    assert!(err("FROM a\nSHELL /bin/sh -c\n").contains("JSON array"));
    assert!(err("FROM a\nENV\n").starts_with("Dockerfile:2:"));
    assert!(
        err("FROM a\nHEALTHCHECK --interval=soon CMD true\n")
            .contains("--interval: invalid duration")
    );
    assert!(err("FROM a AS 1bad\n").contains("invalid stage name"));
    assert!(err("# escape=x\nFROM a\n").starts_with("Dockerfile:1:1: invalid escape directive"));
}
