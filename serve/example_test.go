package serve_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"

	"github.com/graft-ml/graft/fixtures"
	"github.com/graft-ml/graft/serve"
	"github.com/graft-ml/graft/tensor"
)

// ExampleServer_Serve plays the client's part: it frames a load and a run
// request for the MLP fixture, serves them, and reads the answers.
func ExampleServer_Serve() {
	model := filepath.Join(fixtures.Dir(), "mlp", "model.onnx")
	var in bytes.Buffer
	send := func(req serve.Request, blobs ...[]byte) {
		h, _ := json.Marshal(req)
		serve.WriteFrame(&in, h, blobs)
	}
	send(serve.Request{Op: "load", ID: 1, Args: json.RawMessage(fmt.Sprintf(`{"path": %q}`, model))})
	var x bytes.Buffer
	tensor.WriteNPY(&x, tensor.New(tensor.Float32, 3, 20))
	send(serve.Request{Op: "run", ID: 2, Args: json.RawMessage(`{"session": 1, "outputs": ["fc1", "output"]}`),
		Blobs: []string{"input"}}, x.Bytes())

	var out bytes.Buffer
	if err := serve.New(serve.Options{}).Serve(&in, &out); err != nil {
		fmt.Println(err)
		return
	}
	for {
		f, err := serve.ReadFrame(&out)
		if err != nil {
			break // io.EOF after the last answer
		}
		var resp serve.Response
		json.Unmarshal(f.Header, &resp)
		fmt.Printf("answer %d: ok=%v blobs=%v\n", resp.ID, resp.OK, resp.Blobs)
		for i, b := range f.Blobs {
			d, _ := tensor.ReadNPY(bytes.NewReader(b))
			fmt.Printf("  %s: %s\n", resp.Blobs[i], d)
		}
	}
	// Output:
	// answer 1: ok=true blobs=[]
	// answer 2: ok=true blobs=[fc1 output]
	//   fc1: float32[3 32]
	//   output: float32[3 10]
}
