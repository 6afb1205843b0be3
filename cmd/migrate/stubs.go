package main

// Subcommands whose issues have not landed yet each get their help text
// here and exit 2 through notImplemented (main.go).
