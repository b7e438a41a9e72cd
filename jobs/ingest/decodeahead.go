package ingest

import (
	"context"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/valyala/fastjson"
)

// Decoding JSON is about half of ingest's work per record, and the rest
// (typing, columns, files, the exactly-once bookkeeping) must stay on one
// goroutine, in offset order. So records are decoded a few chunks ahead on
// a second goroutine while the batch writes the ones before them.
const (
	decodeChunkSize  = 256
	decodeAheadDepth = 3 // chunks decoded or being written at once
)

// decodedChunk is a run of records and their decodings. Each record has a
// parser of its own, as a decoded event points into its parser's memory;
// chunks and their parsers are reused, so that memory is allocated once.
type decodedChunk struct {
	recs    []*kgo.Record
	results []decoded
	parsers [decodeChunkSize]fastjson.Parser
	fields  []field
}

// decoded is one record's decoding: an event, or why it is a dead letter.
type decoded struct {
	ev event
	dl *deadLetter
}

func newDecodeChunks() chan *decodedChunk {
	free := make(chan *decodedChunk, decodeAheadDepth)
	for range decodeAheadDepth {
		free <- &decodedChunk{results: make([]decoded, 0, decodeChunkSize)}
	}
	return free
}

func (c *decodedChunk) decode(d *decoder, recs []*kgo.Record) {
	c.recs, c.results, c.fields = recs, c.results[:0], c.fields[:0]
	for i, r := range recs {
		var res decoded
		res.ev, c.fields, res.dl = d.decodeWith(&c.parsers[i], c.fields, r.Value, r.Timestamp)
		c.results = append(c.results, res)
	}
}

// records hands recs to b.record in order, each with its decoding, which a
// second goroutine makes ahead. The decoder is that goroutine's alone
// until records returns.
func (b *batch) records(ctx context.Context, recs []*kgo.Record) error {
	if len(recs) == 0 {
		return nil
	}
	ready := make(chan *decodedChunk, decodeAheadDepth)
	go func() {
		defer close(ready)
		for start := 0; start < len(recs); start += decodeChunkSize {
			c := <-b.decodeChunks
			c.decode(b.dec, recs[start:min(start+decodeChunkSize, len(recs))])
			ready <- c
		}
	}()
	var err error
	for c := range ready {
		for i, r := range c.recs {
			if err == nil {
				err = b.record(ctx, r, &c.results[i])
			}
		}
		// A free chunk holds no record: it would keep its fetched batch
		// alive (see batch.run).
		c.recs = nil
		clear(c.results)
		b.decodeChunks <- c
	}
	return err
}
