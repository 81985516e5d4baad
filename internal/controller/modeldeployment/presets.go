package modeldeployment

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
)

// Model URI schemes (model.uri and canary.uri).
const (
	schemeHF    = "hf"
	schemeS3    = "s3"
	schemeGS    = "gs"
	schemeHTTPS = "https"
	schemePVC   = "pvc"
)

// modelMountPath is where a pvc:// claim is mounted, read-only; the engine is
// given modelMountPath/<path>.
const modelMountPath = "/models"

// Probe timing. Readiness and liveness are the same for every engine; the
// startup probe's budget is the preset's: loading tens of gigabytes of weights
// (and compiling kernels) takes minutes, and a liveness probe must not kill a
// server that is still loading.
const (
	probePeriodSeconds    = 10
	probeTimeoutSeconds   = 5
	readyFailureThreshold = 3
	liveFailureThreshold  = 6 // a minute without an answer
	llmStartup            = 30 * time.Minute
	smallModelStartup     = 10 * time.Minute
)

// preset is what an engine contributes to the server container. The user's
// image, port, args and env override or extend it (see container).
type preset struct {
	image string
	port  int32
	// command replaces the image's entrypoint; nil keeps it.
	command []string
	// args load src and listen on port; the user's args come after them, so
	// that a repeated flag given by the user wins (the last one counts for
	// argparse, clap and click alike).
	args func(src modelSource, port int32) []string
	env  []corev1.EnvVar
	// readyPath and livePath are HTTP GET paths; "" means a TCP check of the
	// port. The startup probe uses the liveness check.
	readyPath, livePath func(src modelSource) string
	// startup is how long a server may take to start serving.
	startup time.Duration
	// schemes are the model URI schemes the engine can load.
	schemes []string
	// loads says, for error messages, where the engine loads models from.
	loads string
}

func fixed(p string) func(modelSource) string { return func(modelSource) string { return p } }

// presets are the serving runtimes of runtime.engine; docs/modeldeployments.md
// holds the same table in prose.
var presets = map[platformv1alpha1.Engine]preset{
	// vLLM's OpenAI-compatible server. The image's entrypoint is the server
	// (`vllm serve` in recent images, the api_server module in older ones);
	// both take --model. s3:// and gs:// are streamed by the Run:ai model
	// streamer, which needs --load-format=runai_streamer.
	platformv1alpha1.EngineVLLM: {
		image: "vllm/vllm-openai:v0.9.0",
		port:  8000,
		args: func(src modelSource, port int32) []string {
			args := []string{"--model=" + src.location, fmt.Sprintf("--port=%d", port), "--served-model-name=" + src.name}
			if src.scheme == schemeS3 || src.scheme == schemeGS {
				args = append(args, "--load-format=runai_streamer")
			}
			return args
		},
		env:       []corev1.EnvVar{{Name: "VLLM_NO_USAGE_STATS", Value: "1"}},
		readyPath: fixed("/health"),
		livePath:  fixed("/health"),
		startup:   llmStartup,
		schemes:   []string{schemeHF, schemeS3, schemeGS, schemePVC},
		loads:     "hf:// (a Hugging Face model id), s3://, gs:// (Run:ai streamer) or pvc://<claim>/<path>",
	},
	// Hugging Face Text Generation Inference. The image's entrypoint is
	// text-generation-launcher; its default port 80 needs root, so the preset
	// listens on 8080.
	platformv1alpha1.EngineTGI: {
		image: "ghcr.io/huggingface/text-generation-inference:3.3.0",
		port:  8080,
		args: func(src modelSource, port int32) []string {
			return []string{"--model-id=" + src.location, fmt.Sprintf("--port=%d", port)}
		},
		env:       []corev1.EnvVar{{Name: "USAGE_STATS", Value: "off"}},
		readyPath: fixed("/health"),
		livePath:  fixed("/health"),
		startup:   llmStartup,
		schemes:   []string{schemeHF, schemePVC},
		loads:     "hf:// (a Hugging Face model id) or pvc://<claim>/<path>",
	},
	// NVIDIA Triton Inference Server: the URI is a model repository, which
	// Triton reads from S3 and GCS itself. The image's entrypoint only wraps
	// a command, so the preset names tritonserver.
	platformv1alpha1.EngineTriton: {
		image:   "nvcr.io/nvidia/tritonserver:25.01-py3",
		port:    8000,
		command: []string{"tritonserver"},
		args: func(src modelSource, port int32) []string {
			return []string{"--model-repository=" + src.location, fmt.Sprintf("--http-port=%d", port)}
		},
		readyPath: fixed("/v2/health/ready"),
		livePath:  fixed("/v2/health/live"),
		startup:   llmStartup,
		schemes:   []string{schemeS3, schemeGS, schemePVC},
		loads:     "a model repository on s3://, gs:// or pvc://<claim>/<path>",
	},
	// TensorFlow Serving: the URI is the model's base path (numbered version
	// directories beneath). The image's entrypoint script builds flags from
	// environment variables, so the preset calls the server directly.
	platformv1alpha1.EngineTFServing: {
		image:   "tensorflow/serving:2.18.0",
		port:    8501,
		command: []string{"tensorflow_model_server"},
		args: func(src modelSource, port int32) []string {
			return []string{"--port=8500", fmt.Sprintf("--rest_api_port=%d", port),
				"--model_name=" + src.name, "--model_base_path=" + src.location}
		},
		readyPath: func(src modelSource) string { return "/v1/models/" + src.name },
		livePath:  fixed(""),
		startup:   smallModelStartup,
		schemes:   []string{schemeS3, schemeGS, schemePVC},
		loads:     "a model base path on s3://, gs:// or pvc://<claim>/<path>",
	},
	// MLflow's scoring server, in the image's own Python environment
	// (--env-manager=local: no virtualenv is built at start, nothing is
	// downloaded from PyPI), so the image must hold the model's flavor.
	platformv1alpha1.EngineMLflow: {
		image:   "ghcr.io/mlflow/mlflow:v2.22.0",
		port:    8080,
		command: []string{"mlflow", "models", "serve"},
		args: func(src modelSource, port int32) []string {
			return []string{"--model-uri=" + src.location, "--host=0.0.0.0", fmt.Sprintf("--port=%d", port), "--env-manager=local"}
		},
		readyPath: fixed("/ping"),
		livePath:  fixed("/ping"),
		startup:   smallModelStartup,
		schemes:   []string{schemeS3, schemeGS, schemeHTTPS, schemePVC},
		loads:     "s3://, gs://, https:// or pvc://<claim>/<path>",
	},
	// A server of the user's own: image and port are required by the schema;
	// the model is passed in MODEL_URI (a local path for pvc://), MODEL_NAME
	// and MODEL_VERSION, and probed by TCP.
	platformv1alpha1.EngineCustom: {
		readyPath: fixed(""),
		livePath:  fixed(""),
		startup:   llmStartup,
		schemes:   []string{schemeHF, schemeS3, schemeGS, schemeHTTPS, schemePVC},
		loads:     "any supported URI",
	},
}

// customEnv tells a custom server which model to load.
func customEnv(src modelSource) []corev1.EnvVar {
	return []corev1.EnvVar{
		{Name: "MODEL_URI", Value: src.location},
		{Name: "MODEL_NAME", Value: src.name},
		{Name: "MODEL_VERSION", Value: src.version},
	}
}

// modelSource is one track's model, resolved for its pods.
type modelSource struct {
	name, version, uri string
	scheme             string
	// location is what the engine is given: a Hugging Face model id for
	// hf://, a path under modelMountPath for pvc://, the URI otherwise.
	location string
	// claim is the PersistentVolumeClaim of a pvc:// URI.
	claim string
}

// specError is an error in the ModelDeployment's spec that no retry can fix:
// the object is Stalled with reason InvalidSpec until the spec changes.
type specError struct{ msg string }

func (e *specError) Error() string { return e.msg }

func invalidSpec(format string, args ...any) error {
	return &specError{msg: fmt.Sprintf(format, args...)}
}

// tfServingModelName is what TF Serving accepts as a model name that can also
// be the path segment of its REST API (/v1/models/<name>).
var tfServingModelName = regexp.MustCompile(`^[A-Za-z0-9][-A-Za-z0-9_.]*$`)

// resolveSource parses a model URI (already checked by the schema's CEL rule)
// for an engine.
func resolveSource(engine platformv1alpha1.Engine, name, version, uri, field string) (modelSource, error) {
	p, ok := presets[engine]
	if !ok {
		return modelSource{}, invalidSpec("runtime.engine %q is not one of vllm, tgi, triton, tfserving, mlflow, custom", engine)
	}
	scheme, rest, ok := strings.Cut(uri, "://")
	if !ok || rest == "" {
		return modelSource{}, invalidSpec("%s %q is not a URI of the form <scheme>://<location>", field, uri)
	}
	if !slices.Contains(p.schemes, scheme) {
		return modelSource{}, invalidSpec("%s: engine %s cannot load %s:// URIs; it loads %s", field, engine, scheme, p.loads)
	}
	if engine == platformv1alpha1.EngineTFServing && !tfServingModelName.MatchString(name) {
		return modelSource{}, invalidSpec("model.name %q cannot name a TF Serving model: use letters, digits, '-', '_' and '.'", name)
	}
	src := modelSource{name: name, version: version, uri: uri, scheme: scheme, location: uri}
	switch scheme {
	case schemeHF:
		src.location = strings.Trim(rest, "/")
	case schemePVC:
		claim, sub, _ := strings.Cut(rest, "/")
		local := path.Join(modelMountPath, sub)
		if local != modelMountPath && !strings.HasPrefix(local, modelMountPath+"/") {
			return modelSource{}, invalidSpec("%s %q leaves the claim: the path must stay below the claim's root", field, uri)
		}
		src.claim, src.location = claim, local
	}
	return src, nil
}
