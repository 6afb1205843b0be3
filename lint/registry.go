package lint

import "sort"

var registry []*Rule

// register adds a rule; each rule file calls it from init.
func register(r *Rule) *Rule {
	registry = append(registry, r)
	return r
}

// All returns every rule, sorted by name.
func All() []*Rule {
	out := append([]*Rule(nil), registry...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
