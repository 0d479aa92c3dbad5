// containerd-devmapper: containerd's own devmapper snapshotter code
// (github.com/containerd/containerd/snapshots/devmapper, Debian's 1.6
// sources) behind a line protocol, so the bench can time it side by side
// with the library in one guest boot.
//
// usage: containerd-devmapper -root DIR -pool NAME -base-size 64MB [-fs ext4]
//
// Reads one JSON command per line on stdin:
//
//	{"id":1,"op":"prepare","key":"a","parent":"p"}
//
// (op: prepare, view, commit, remove, usage, stat, walk, mounts) and answers
// one JSON line per command on stdout:
//
//	{"id":1,"ms":12.5,"error":""}
//
// ms is measured here, around the snapshotter call alone (no pipe, no JSON).
// Commands run concurrently (one goroutine each), as containerd's gRPC
// server would serve them; answers come in completion order, matched by id.
// The first line written is {"ready":true} once the snapshotter is open.
// End of input closes the snapshotter and exits.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/containerd/containerd/log"
	"github.com/containerd/containerd/snapshots"
	"github.com/containerd/containerd/snapshots/devmapper"
	"github.com/sirupsen/logrus"
)

type command struct {
	ID     int64  `json:"id"`
	Op     string `json:"op"`
	Key    string `json:"key"`
	Parent string `json:"parent"`
}

type answer struct {
	ID    int64   `json:"id"`
	Ms    float64 `json:"ms"`
	Error string  `json:"error,omitempty"`
	// Size and Inodes for usage, Kind for stat, Count for walk.
	Size   int64  `json:"size,omitempty"`
	Inodes int64  `json:"inodes,omitempty"`
	Kind   string `json:"kind,omitempty"`
	Count  int    `json:"count,omitempty"`
}

func main() {
	root := flag.String("root", "", "the snapshotter's root directory (its bolt databases)")
	pool := flag.String("pool", "", "the thin pool's device-mapper name (made by the caller)")
	baseSize := flag.String("base-size", "64MB", "the base image size (containerd's base_image_size)")
	fsType := flag.String("fs", "ext4", "the file system of parentless snapshots (ext4 or xfs)")
	flag.Parse()
	if *root == "" || *pool == "" {
		fmt.Fprintln(os.Stderr, "usage: containerd-devmapper -root DIR -pool NAME [-base-size 64MB] [-fs ext4]")
		os.Exit(2)
	}
	// containerd's own logging at warning level: its debug lines would cost time it does not spend in production.
	logrus.SetLevel(logrus.WarnLevel)
	logrus.SetOutput(os.Stderr)
	ctx := log.WithLogger(context.Background(), logrus.NewEntry(logrus.StandardLogger()))

	config := &devmapper.Config{RootPath: *root, PoolName: *pool, BaseImageSize: *baseSize}
	// The field's type is unexported: set it from its constants' spellings.
	switch *fsType {
	case "ext4":
		config.FileSystemType = "ext4"
	case "xfs":
		config.FileSystemType = "xfs"
	default:
		fmt.Fprintf(os.Stderr, "containerd-devmapper: unsupported -fs %q\n", *fsType)
		os.Exit(2)
	}
	snap, err := devmapper.NewSnapshotter(ctx, config)
	if err != nil {
		fmt.Fprintf(os.Stderr, "containerd-devmapper: %v\n", err)
		os.Exit(1)
	}

	out := json.NewEncoder(os.Stdout)
	var outMu sync.Mutex
	write := func(v interface{}) {
		outMu.Lock()
		defer outMu.Unlock()
		if err := out.Encode(v); err != nil {
			fmt.Fprintf(os.Stderr, "containerd-devmapper: write: %v\n", err)
			os.Exit(1)
		}
	}
	write(map[string]bool{"ready": true})

	var wg sync.WaitGroup
	in := bufio.NewReader(os.Stdin)
	for {
		line, err := in.ReadBytes('\n')
		if len(line) > 0 {
			var c command
			if jerr := json.Unmarshal(line, &c); jerr != nil {
				write(answer{ID: -1, Error: fmt.Sprintf("bad command: %v", jerr)})
			} else {
				wg.Add(1)
				go func(c command) {
					defer wg.Done()
					write(run(ctx, snap, c))
				}(c)
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "containerd-devmapper: read: %v\n", err)
			break
		}
	}
	wg.Wait()
	if err := snap.Close(); err != nil {
		fmt.Fprintf(os.Stderr, "containerd-devmapper: close: %v\n", err)
		os.Exit(1)
	}
}

// run times one snapshotter call.
func run(ctx context.Context, snap *devmapper.Snapshotter, c command) answer {
	a := answer{ID: c.ID}
	var err error
	t0 := time.Now()
	switch c.Op {
	case "prepare":
		_, err = snap.Prepare(ctx, c.Key, c.Parent)
	case "view":
		_, err = snap.View(ctx, c.Key, c.Parent)
	case "commit":
		// Commit(name, key): Parent carries the active key, Key the committed name.
		err = snap.Commit(ctx, c.Key, c.Parent)
	case "remove":
		err = snap.Remove(ctx, c.Key)
	case "usage":
		var u snapshots.Usage
		u, err = snap.Usage(ctx, c.Key)
		a.Size, a.Inodes = u.Size, u.Inodes
	case "stat":
		var info snapshots.Info
		info, err = snap.Stat(ctx, c.Key)
		a.Kind = info.Kind.String()
	case "walk":
		err = snap.Walk(ctx, func(context.Context, snapshots.Info) error {
			a.Count++
			return nil
		})
	case "mounts":
		_, err = snap.Mounts(ctx, c.Key)
	default:
		err = fmt.Errorf("unknown op %q", c.Op)
	}
	a.Ms = float64(time.Since(t0).Nanoseconds()) / 1e6
	if err != nil {
		a.Error = err.Error()
	}
	return a
}
