package pb

// The generated code is committed so that building graft needs no protoc.
//go:generate protoc --go_out=. --go_opt=paths=source_relative graft_onnx.proto
