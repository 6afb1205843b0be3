package lint

import "slices"

// This file keeps by-table views of the schema model so that "the indexes
// of t" and "the partitions of t" cost the size of the answer, not of the
// model: on a 20,000-statement migration the full scans they replace were
// a third of the run.
//
// The views exist only while a lint run owns the schema (Lint opens them
// and closes them at the end). Code outside the package, such as the
// catalog reader and the planner, writes Tables and Indexes directly; with
// no view open every lookup scans the maps, which is always right.

// schemaView indexes Schema.Indexes by table and Schema.Tables by parent.
type schemaView struct {
	// indexes lists, per table, the indexes whose Table it is, with the
	// key each has in Schema.Indexes.
	indexes map[string][]viewIndex
	// children holds, per parent, the Schema.Tables keys of the tables
	// whose PartitionOf names it.
	children map[string]map[string]struct{}
	// referrers holds, per table, the sorted Schema.Tables keys of the
	// tables with a foreign key referencing it (a popular parent such as
	// users has thousands, asked for on every statement naming it); refs
	// is the reverse, so that a table's contribution can be withdrawn when
	// its constraints change.
	referrers map[string][]string
	refs      map[string][]string
}

type viewIndex struct {
	ix  *Index
	key string
}

// openView builds the views from the maps as they stand. It returns
// false when a view is already open (a nested run leaves it to the outer).
func (s *Schema) openView() bool {
	if s.view != nil {
		return false
	}
	v := &schemaView{indexes: map[string][]viewIndex{}, children: map[string]map[string]struct{}{},
		referrers: map[string][]string{}, refs: map[string][]string{}}
	for key, ix := range s.Indexes {
		v.indexes[ix.Table] = append(v.indexes[ix.Table], viewIndex{ix, key})
	}
	for key, t := range s.Tables {
		v.addChild(t.PartitionOf, key)
		v.addRefs(key, t)
	}
	s.view = v
	return true
}

// addRefs records the tables t's foreign keys reference.
func (v *schemaView) addRefs(key string, t *Table) {
	for _, c := range t.Constraints {
		if c.Kind != "foreign" || c.RefTable == "" || contains(v.refs[key], c.RefTable) {
			continue
		}
		v.refs[key] = append(v.refs[key], c.RefTable)
		list := v.referrers[c.RefTable]
		if i, found := slices.BinarySearch(list, key); !found {
			v.referrers[c.RefTable] = slices.Insert(list, i, key)
		}
	}
}

func (v *schemaView) removeRefs(key string) {
	for _, ref := range v.refs[key] {
		list := v.referrers[ref]
		if i, found := slices.BinarySearch(list, key); found {
			list = slices.Delete(list, i, i+1)
		}
		if len(list) == 0 {
			delete(v.referrers, ref)
		} else {
			v.referrers[ref] = list
		}
	}
	delete(v.refs, key)
}

// constraintsChanged re-reads the foreign keys of Tables[key] after its
// constraints were added to, dropped or filtered.
func (s *Schema) constraintsChanged(key string) {
	if s.view == nil {
		return
	}
	s.view.removeRefs(key)
	if t := s.Tables[key]; t != nil {
		s.view.addRefs(key, t)
	}
}

// referrersOf returns the Tables keys of the tables with a foreign key
// referencing table, other than table itself, sorted.
func (s *Schema) referrersOf(table string) []string {
	if s.view != nil {
		list := s.view.referrers[table]
		if i, found := slices.BinarySearch(list, table); found {
			return append(slices.Clip(list[:i:i]), list[i+1:]...)
		}
		return slices.Clone(list)
	}
	var out []string
	for name, t := range s.Tables {
		if name == table {
			continue
		}
		for _, c := range t.Constraints {
			if c.Kind == "foreign" && c.RefTable == table {
				out = append(out, name)
				break
			}
		}
	}
	slices.Sort(out)
	return out
}

// referrersNoCopy is referrersOf for callers that only read the list
// once: with a view open it returns the view's own slice, which may hold
// table itself at index self (-1 when it does not). The caller must not
// change or keep it. fk-locks-other-table asks for the referrers of
// every table a statement locks ACCESS EXCLUSIVE, and the copy was half
// of what that cost.
func (s *Schema) referrersNoCopy(table string) (list []string, self int) {
	if s == nil {
		return nil, -1
	}
	if s.view == nil {
		return s.referrersOf(table), -1
	}
	list = s.view.referrers[table]
	if i, found := slices.BinarySearch(list, table); found {
		return list, i
	}
	return list, -1
}

func (s *Schema) closeView() { s.view = nil }

func (v *schemaView) addChild(parent, key string) {
	if parent == "" {
		return
	}
	set := v.children[parent]
	if set == nil {
		set = map[string]struct{}{}
		v.children[parent] = set
	}
	set[key] = struct{}{}
}

func (v *schemaView) removeChild(parent, key string) {
	if parent == "" {
		return
	}
	if set := v.children[parent]; set != nil {
		delete(set, key)
		if len(set) == 0 {
			delete(v.children, parent)
		}
	}
}

func (v *schemaView) removeIndex(ix *Index) {
	list := v.indexes[ix.Table]
	for i := range list {
		if list[i].ix == ix {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(v.indexes, ix.Table)
	} else {
		v.indexes[ix.Table] = list
	}
}

// putIndex sets Indexes[key], replacing any index of that name.
func (s *Schema) putIndex(key string, ix *Index) {
	if s.view != nil {
		if old := s.Indexes[key]; old != nil {
			s.view.removeIndex(old)
		}
		s.view.indexes[ix.Table] = append(s.view.indexes[ix.Table], viewIndex{ix, key})
	}
	s.Indexes[key] = ix
}

// deleteIndex removes Indexes[key].
func (s *Schema) deleteIndex(key string) {
	if s.view != nil {
		if old := s.Indexes[key]; old != nil {
			s.view.removeIndex(old)
		}
	}
	delete(s.Indexes, key)
}

// indexKeysOn returns the Indexes keys of the table's indexes.
func (s *Schema) indexKeysOn(table string) []string {
	var out []string
	if s.view != nil {
		for _, e := range s.view.indexes[table] {
			out = append(out, e.key)
		}
		return out
	}
	for key, ix := range s.Indexes {
		if ix.Table == table {
			out = append(out, key)
		}
	}
	return out
}

// retableIndexes moves the indexes of table old to table new, as a
// rename of the table does.
func (s *Schema) retableIndexes(old, new string) {
	if s.view == nil {
		for _, ix := range s.Indexes {
			if ix.Table == old {
				ix.Table = new
			}
		}
		return
	}
	moved := s.view.indexes[old]
	if old == new || len(moved) == 0 {
		return
	}
	delete(s.view.indexes, old)
	for _, e := range moved {
		e.ix.Table = new
	}
	s.view.indexes[new] = append(s.view.indexes[new], moved...)
}

// renameIndexKey moves Indexes[old] to Indexes[new].
func (s *Schema) renameIndexKey(old, new string, ix *Index) {
	s.deleteIndex(old)
	s.putIndex(new, ix)
}

// putTable sets Tables[key], replacing any table of that name.
func (s *Schema) putTable(key string, t *Table) {
	if s.view != nil {
		if old := s.Tables[key]; old != nil {
			s.view.removeChild(old.PartitionOf, key)
		}
		s.view.addChild(t.PartitionOf, key)
		s.view.removeRefs(key)
		s.view.addRefs(key, t)
	}
	s.Tables[key] = t
}

// deleteTable removes Tables[key].
func (s *Schema) deleteTable(key string) {
	if s.view != nil {
		if old := s.Tables[key]; old != nil {
			s.view.removeChild(old.PartitionOf, key)
		}
		s.view.removeRefs(key)
	}
	delete(s.Tables, key)
}

// setPartitionOf attaches (or, with parent "", detaches) Tables[key].
func (s *Schema) setPartitionOf(key string, t *Table, parent string) {
	if s.view != nil && s.Tables[key] == t {
		s.view.removeChild(t.PartitionOf, key)
		s.view.addChild(parent, key)
	}
	t.PartitionOf = parent
}

// directPartitions returns the Tables keys of parent's direct partitions,
// sorted.
func (s *Schema) directPartitions(parent string) []string {
	var out []string
	if s.view != nil {
		for key := range s.view.children[parent] {
			out = append(out, key)
		}
	} else {
		for key, t := range s.Tables {
			if t.PartitionOf == parent {
				out = append(out, key)
			}
		}
	}
	slices.Sort(out)
	return out
}

// clone copies the model deeply enough that applying statements to s
// leaves the copy as it was.
func (s *Schema) clone() *Schema {
	c := &Schema{Tables: make(map[string]*Table, len(s.Tables)), Indexes: make(map[string]*Index, len(s.Indexes)),
		Types: make(map[string]*Type, len(s.Types)), catalog: s.catalog}
	for k, t := range s.Tables {
		tc := *t
		tc.Columns = make([]*Column, len(t.Columns))
		for i, col := range t.Columns {
			cc := *col
			cc.Type.Mods = slices.Clone(col.Type.Mods)
			tc.Columns[i] = &cc
		}
		tc.Constraints = make([]*Constraint, len(t.Constraints))
		for i, con := range t.Constraints {
			cc := *con
			cc.Columns = slices.Clone(con.Columns)
			tc.Constraints[i] = &cc
		}
		c.Tables[k] = &tc
	}
	for k, ix := range s.Indexes {
		ic := *ix
		ic.Columns = slices.Clone(ix.Columns)
		c.Indexes[k] = &ic
	}
	for k, t := range s.Types {
		tc := *t
		tc.Base.Mods = slices.Clone(t.Base.Mods)
		if t.AddedValues != nil {
			tc.AddedValues = make(map[string]int, len(t.AddedValues))
			for v, tx := range t.AddedValues {
				tc.AddedValues[v] = tx
			}
		}
		c.Types[k] = &tc
	}
	return c
}

// restore puts back a model saved with clone, in place, so that holders of
// s see it; an open view is rebuilt for it.
func (s *Schema) restore(saved *Schema) {
	open := s.view != nil
	s.Tables, s.Indexes, s.Types, s.view = saved.Tables, saved.Indexes, saved.Types, nil
	if open {
		s.openView()
	}
}
