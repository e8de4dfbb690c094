package blob

import (
	"context"
	"io"
	"strings"
)

// Prefixed scopes a Store to the names under prefix ("backup/"): the
// service sees "alice/f.txt", the store holds "backup/alice/f.txt".
func Prefixed(s Store, prefix string) Store {
	return &prefixed{s: s, p: strings.TrimSuffix(prefix, "/") + "/"}
}

type prefixed struct {
	s Store
	p string
}

func (p *prefixed) full(name string) (string, error) {
	if !ValidName(name) {
		return "", ErrBadName
	}
	return p.p + name, nil
}

func (p *prefixed) Create(ctx context.Context, name string) (Writer, error) {
	n, err := p.full(name)
	if err != nil {
		return nil, err
	}
	return p.s.Create(ctx, n)
}

func (p *prefixed) Open(ctx context.Context, name string) (io.ReadCloser, Info, error) {
	n, err := p.full(name)
	if err != nil {
		return nil, Info{}, err
	}
	rc, info, err := p.s.Open(ctx, n)
	info.Name = strings.TrimPrefix(info.Name, p.p)
	return rc, info, err
}

func (p *prefixed) Stat(ctx context.Context, name string) (Info, error) {
	n, err := p.full(name)
	if err != nil {
		return Info{}, err
	}
	info, err := p.s.Stat(ctx, n)
	info.Name = strings.TrimPrefix(info.Name, p.p)
	return info, err
}

func (p *prefixed) Remove(ctx context.Context, name string) error {
	n, err := p.full(name)
	if err != nil {
		return err
	}
	return p.s.Remove(ctx, n)
}

func (p *prefixed) List(ctx context.Context, prefix string) ([]Info, error) {
	infos, err := p.s.List(ctx, p.p+prefix)
	for i := range infos {
		infos[i].Name = strings.TrimPrefix(infos[i].Name, p.p)
	}
	return infos, err
}

// Close does not close the underlying store, which the daemon owns.
func (p *prefixed) Close() error { return nil }
