// Package runlog records what a command that fits, trains, evaluates or
// computes an NTK did, so that runs can be listed, inspected and compared
// afterwards: the command line and flags, the graft version, the SHA-256 of
// every input, the seed, the machine, metrics step by step, the files it
// wrote, and curves of its metrics as PNG.
//
// # Usage
//
//	r, err := runlog.Start("runs", runlog.Info{Command: "finetune", Args: os.Args,
//		Flags: flags, Inputs: []string{model, data}, Seed: 1, Threads: 8})
//	if err != nil { ... }
//	for step := range steps {
//		r.Log(map[string]any{"step": step, "loss": loss, "lr": lr})
//	}
//	r.Summary("test_top1", acc)
//	r.Artefact("tuned.onnx")
//	r.AddCurve(runlog.Curve{X: "lr", Y: "loss", LogX: true}) // besides loss.png, lr.png
//	err = r.Finish(trainErr)
//
// List, Load and Compare read records back, for `graft runs`.
//
// Every method of a nil *Run does nothing and returns nil, so a command run
// without a record needs no conditionals.
//
// # Layout on disk
//
// Each run is one folder, DIR/ID, where ID is the start time in UTC, the
// command and four random hex digits (20261204-180512-finetune-3f2a), so
// that names sort by time and two runs started in the same second do not
// collide. The folder holds:
//
//	params.json    Params: what ran, where, on what, and how it ended
//	metrics.jsonl  one JSON object per line, appended by Log
//	<metric>.png   curves drawn by Finish
//	artefacts/     copies of the small files the run wrote (Artefact)
//
// # Atomicity and crashes
//
// The folder is assembled under a hidden temporary name and renamed into
// place once params.json is in it, and params.json is only ever replaced
// by a rename (tensor.WriteFileAtomic), so it always parses. Each metrics
// line is written with one write call; a crash can leave at most a torn
// last line, which readers skip. A run that never reached Finish still
// says "running"; List and Load report it as "crashed" when it was started
// on this host by a process that no longer exists, or before the host's
// last reboot. Runs from other hosts stay "running", since their processes
// cannot be seen.
//
// # What is stored
//
// Inputs are hashed whole when they are files. A folder (an image
// dataset) is hashed as its sorted list of relative names, sizes and
// content hashes; past 1 GiB of contents, files count by name and size
// only, and the input is marked partial. Artefacts are recorded by path,
// size and SHA-256; those up to 1 MiB (curves, metrics, JSON and CSV
// reports, small models) are also copied into the run folder, so a record
// stays small however large the models it wrote.
//
// Nothing here prints or exits; errors are returned with the file they
// concern. The package sits beside the commands' libraries: it imports
// tensor (atomic writes) and internal/plot (curves), and is used by
// cmd/graft.
package runlog
