//! Property tests of the parser: it never panics on arbitrary input, and
//! well-formed generated Dockerfiles round-trip their instructions.

use ferry_build::expand::{expand, split_words};
use ferry_build::parse::{Instr, parse};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn never_panics_on_arbitrary_text(src in "(?s).{0,400}") {
        let _ = parse("Dockerfile", &src);
    }

    #[test]
    fn never_panics_on_dockerfile_like_text(
        lines in prop::collection::vec(
            prop_oneof![
                Just("FROM a AS b".to_string()),
                Just("RUN <<EOF".to_string()),
                Just("EOF".to_string()),
                Just("\\".to_string()),
                Just("# escape=`".to_string()),
                "(RUN|COPY|ADD|ENV|ARG|LABEL|CMD|HEALTHCHECK|FROM|SHELL|ONBUILD|run) [-a-z=$\\{\\}\"' \\[\\]:<`\\\\]{0,30}",
            ],
            0..12,
        )
    ) {
        let _ = parse("Dockerfile", &lines.join("\n"));
    }

    #[test]
    fn expansion_never_panics(word in "[-a-zA-Z${}:+?'\"\\\\ ]{0,40}") {
        let _ = expand(&word, '\\', &|n| (n == "a").then(|| "x".to_string()));
        let _ = split_words(&word, '\\');
    }

    #[test]
    fn run_commands_survive(cmds in prop::collection::vec("[a-z][a-z0-9 ./_-]{0,30}", 1..8)) {
        let mut src = String::from("FROM base\n");
        for c in &cmds {
            src.push_str(&format!("RUN {c}\n"));
        }
        let df = parse("Dockerfile", &src).unwrap();
        prop_assert_eq!(df.stages[0].steps.len(), cmds.len());
        for (step, c) in df.stages[0].steps.iter().zip(&cmds) {
            match &step.instr {
                Instr::Run(r) => prop_assert_eq!(r.cmd.clone(), ferry_build::parse::CmdForm::Shell(c.trim_end().to_string())),
                other => prop_assert!(false, "{:?}", other),
            }
        }
    }

    #[test]
    fn plain_words_expand_to_themselves(w in "[a-zA-Z0-9_./-]{1,30}") {
        prop_assert_eq!(expand(&w, '\\', &|_| None).unwrap(), w);
    }
}
