// Route tests live in tests/routes.rs (through the whole router).
