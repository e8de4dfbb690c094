package services_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"gatehouse/internal/config"
	"gatehouse/internal/services"
)

// The list and the config's [services.<name>] sections name the same
// services in the same order, and each entry's Common is its own
// section's.
func TestListMatchesConfigSections(t *testing.T) {
	t.Parallel()
	typ := reflect.TypeOf(config.Services{})
	var sections []string
	for i := range typ.NumField() {
		tag, _, _ := strings.Cut(typ.Field(i).Tag.Get("toml"), ",")
		sections = append(sections, tag)
	}
	if names := services.Names(); !slices.Equal(names, sections) {
		t.Fatalf("list %v, config sections %v", names, sections)
	}
	cfg := config.Default()
	v := reflect.ValueOf(&cfg.Services).Elem()
	for i, s := range services.All {
		want := v.Field(i).FieldByName("Common").Addr().Interface().(*config.Common)
		if got := s.Common(cfg); got != want {
			t.Errorf("%s: Common is not the [services.%s] section's", s.Name, s.Name)
		}
		if s.Build == nil || s.DefaultPort <= 0 {
			t.Errorf("%s: no Build or no default port", s.Name)
		}
	}
}
