package lint

import (
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

var rulePartitionedIndex = register(&Rule{
	Name:     "partitioned-index",
	Doc:      "CREATE INDEX on a partitioned table blocks writes to every partition, and CONCURRENTLY is refused there",
	Severity: SeverityError,
	Run: func(pass *Pass) {
		ix := pass.Stmt.Node.GetIndexStmt()
		if ix == nil || ix.Relation == nil || inFunctionBody(pass.Stmt) {
			return
		}
		parent := RangeVarName(ix.Relation)
		t := pass.Schema.Table(parent)
		if t == nil || !t.Partitioned || t.IsNew(pass.Stmt.Source) {
			return
		}
		if !ix.Relation.Inh && !ix.Concurrent {
			// ON ONLY: step 1 of the recipe, SHARE on the parent alone
			// and no scan.
			return
		}
		parts := partitionsOf(pass.Schema, parent)
		var msg string
		if ix.Concurrent {
			msg = "CREATE INDEX CONCURRENTLY is refused on partitioned table " + displayQuoted(parent) +
				" (PostgreSQL cannot build a partitioned index concurrently), so this statement fails as written; " +
				"build the index ON ONLY the parent, concurrently on each partition, then attach"
		} else {
			on := "every partition"
			if len(parts) > 0 {
				on += " (" + joinDisplay(parts) + ")"
			}
			msg = "CREATE INDEX on partitioned table " + displayQuoted(parent) + " takes a SHARE lock on it and on " + on +
				", which blocks writes (INSERT, UPDATE, DELETE), not reads, while every partition is scanned and indexed; " +
				"CONCURRENTLY does not work on a partitioned parent, so build it ON ONLY the parent, concurrently on each partition, then attach"
		}
		locks := []Lock{} // the concurrent form is refused before it locks anything
		if !ix.Concurrent {
			locks = strongLocks(pass.locks())
		}
		pass.Report(Finding{
			Message: msg,
			Locks:   locks,
			Scan:    !ix.Concurrent,
			Fix:     partitionedIndexRecipe(pass, ix, parent),
		})
	},
})

// rangeVarOf builds a RangeVar for a qualified name, leaving the default
// schema out so the fix reads as the user would write it.
func rangeVarOf(qualified string, inh bool) *pg_query.RangeVar {
	schema, name, _ := strings.Cut(qualify(qualified), ".")
	if schema == "public" {
		schema = ""
	}
	return &pg_query.RangeVar{Schemaname: schema, Relname: name, Inh: inh, Relpersistence: "p"}
}

// partitionedIndexRecipe is R7 (locks.md §1.11): the invalid parent index
// ON ONLY, a concurrent build per partition, and ATTACH PARTITION for
// each, recursing into sub-partitioned partitions.
func partitionedIndexRecipe(pass *Pass, ix *pg_query.IndexStmt, parent string) string {
	name := indexNameFor(ix, parent)
	var b strings.Builder
	b.WriteString("-- 1. The parent index alone: SHARE on " + DisplayName(parent) + " only, no scan; it stays invalid until step 3 is done for every partition.\n")
	var steps2, steps3 strings.Builder
	onlyIndex(&b, &steps2, &steps3, pass, ix, parent, name, 0)
	b.WriteString("-- 2. Each partition concurrently, outside any transaction block (check indisvalid after each; drop an invalid leftover before retrying):\n")
	b.WriteString(steps2.String())
	b.WriteString("-- 3. Attach each partition's index (SHARE UPDATE EXCLUSIVE on the parent index, brief ACCESS EXCLUSIVE on the partition's):\n")
	b.WriteString(steps3.String())
	return strings.TrimRight(b.String(), "\n")
}

func onlyIndex(b, cic, attach *strings.Builder, pass *Pass, ix *pg_query.IndexStmt, table, name string, depth int) {
	only := &pg_query.IndexStmt{
		Idxname: name, Relation: rangeVarOf(table, false), AccessMethod: ix.AccessMethod,
		IndexParams: ix.IndexParams, IndexIncludingParams: ix.IndexIncludingParams, Options: ix.Options,
		WhereClause: ix.WhereClause, Unique: ix.Unique, NullsNotDistinct: ix.NullsNotDistinct,
	}
	b.WriteString(Deparse(&pg_query.Node{Node: &pg_query.Node_IndexStmt{IndexStmt: only}}) + ";\n")
	parentIndex := QuoteQualified(schemaOf(qualify(table)) + "." + name)
	parts := pass.Schema.directPartitions(qualify(table))
	if len(parts) == 0 {
		placeholder := "partition_name"
		cic.WriteString("-- for each partition of " + DisplayName(table) + " (SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = " +
			sqlStringLiteral(displayQuoted(table)) + "::regclass):\n")
		partIndex := placeholder + "_" + strings.TrimSuffix(strings.TrimPrefix(name, baseName(qualify(table))+"_"), "_idx") + "_idx"
		cic.WriteString(strings.ReplaceAll(concurrentIndexStmt(ix, rangeVarOf(placeholder, true), partIndex), placeholder, "<partition>") + ";\n")
		attach.WriteString("ALTER INDEX " + parentIndex + " ATTACH PARTITION " + strings.ReplaceAll(partIndex, placeholder, "<partition>") + ";\n")
		return
	}
	for _, p := range parts {
		partIndex := indexNameFor(&pg_query.IndexStmt{IndexParams: ix.IndexParams}, p)
		if ix.Idxname != "" {
			partIndex = partitionIndexName(name, baseName(qualify(table)), baseName(p))
		}
		qPartIndex := QuoteQualified(schemaOf(p) + "." + partIndex)
		if t := pass.Schema.Table(p); t != nil && t.Partitioned && depth < 4 {
			// A sub-partitioned partition cannot be built concurrently
			// either: it gets the same treatment one level down.
			onlyIndex(b, cic, attach, pass, ix, p, partIndex, depth+1)
		} else {
			cic.WriteString(concurrentIndexStmt(ix, rangeVarOf(p, true), partIndex) + ";\n")
		}
		attach.WriteString("ALTER INDEX " + parentIndex + " ATTACH PARTITION " + qPartIndex + ";\n")
	}
}

// partitionIndexName derives a partition's index name from the parent's:
// events_at_idx on events becomes events_2024_at_idx on events_2024.
func partitionIndexName(parentIndex, parentTable, partition string) string {
	rest, ok := strings.CutPrefix(parentIndex, parentTable+"_")
	if !ok {
		rest = parentIndex
	}
	name := partition + "_" + rest
	if len(name) > 63 {
		name = name[:63]
	}
	return name
}
