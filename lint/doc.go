// Package lint reads PostgreSQL migrations, parses them with the real
// PostgreSQL parser (pg_query_go), keeps a model of the schema they build, and
// runs rules that report statements which take heavy locks on existing tables,
// rewrite or scan them, or break the running application.
//
// Data flows one way, and each step is a plain value a test can build by hand:
//
//	source text -> Source (chunks with direction and transaction mode)
//	            -> []*Statement (parsed, positioned, transaction-annotated)
//	            -> Schema + Rules -> []Finding -> report formats
//
// A large source goes through the same steps a window of statements at a
// time (parse_stream.go), so that its parse trees never all live at once;
// what needs the whole source (ignore comments, indexes created further
// down) is settled when the source ends.
//
// The rule framework follows golang.org/x/tools/go/analysis: a Rule is a value
// with a name, a doc line and a Run function that receives a Pass; one rule
// lives in one file, with lint/testdata/<rule>.sql holding annotated examples.
package lint
