package postgres

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"
)

// HoldPool takes every connection of s's main pool, as slow appends and
// reads would, until release is called.
func HoldPool(ctx context.Context, s *Store) (release func(), err error) {
	var held []*pgxpool.Conn
	release = func() {
		for _, c := range held {
			c.Release()
		}
	}
	for range s.pool.Config().MaxConns {
		c, err := s.pool.Acquire(ctx)
		if err != nil {
			release()
			return nil, err
		}
		held = append(held, c)
	}
	return release, nil
}
