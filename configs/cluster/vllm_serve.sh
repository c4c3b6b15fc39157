#!/usr/bin/env bash
# Example: start `vllm serve` replicas for one arena expert on this host, for backend: openai.
# See docs/OPERATIONS.md, "Serving experts with vllm serve".
#
#   configs/cluster/vllm_serve.sh EXPERT            # one replica per TP-sized slice of the GPUs
#   MODE=dp configs/cluster/vllm_serve.sh EXPERT    # one server, vLLM balances its DP ranks
#   DRY_RUN=1 configs/cluster/vllm_serve.sh EXPERT  # print the commands only
#
# MODE=replicas (default): independent servers on ports BASE_PORT, BASE_PORT+1, ... each on its
#   own CUDA_VISIBLE_DEVICES slice. List them all as the expert's `endpoints`; the arena client
#   round-robins over them and fails over to the next one when a server is down or overloaded.
# MODE=dp: one `vllm serve --data-parallel-size N --tensor-parallel-size TP` on BASE_PORT; vLLM
#   load-balances its ranks internally (queue-aware). One endpoint per host.
#
# Settings that matter for the arena:
#   --served-model-name  must equal the expert's `model` in the arena config: the client sends
#                        that string as the request's "model".
#   --generation-config vllm  use only the sampling parameters the arena sends. The default
#                        ("auto") fills unsent ones (top_k, repetition_penalty, ...) from the
#                        model's generation_config.json, which would change the paper's sampling.
#   --enable-prefix-caching  judge prompts in both orders and the three logprob-mode choices
#                        share long prefixes.
#   --max-num-seqs       sequences per engine batch; the client must keep that many requests in
#                        flight (expert `batch_size` and `max_concurrency`) to fill it.
#   --api-key            set WC_SERVE_API_KEY here and the same value in the env var named by
#                        the expert's `api_key_env`.
set -euo pipefail

EXPERT="${1:-}"
MODE="${MODE:-replicas}"
BASE_PORT="${BASE_PORT:-8000}"
NUM_GPUS="${NUM_GPUS:-$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)}"
MAX_MODEL_LEN="${MAX_MODEL_LEN:-8192}"  # judge prompt ~1.3k + up to 2048 generated, with room
MAX_NUM_SEQS="${MAX_NUM_SEQS:-256}"
GPU_MEMORY_UTILIZATION="${GPU_MEMORY_UTILIZATION:-0.90}"
LOG_DIR="${LOG_DIR:-./vllm-logs}"

# The paper's five experts: HF id (= served model name) and tensor-parallel size on 80 GB GPUs.
case "$EXPERT" in
  athene-v2-chat)         MODEL="Nexusflow/Athene-V2-Chat"; TP=4 ;;
  deepseek-coder-v2-lite) MODEL="deepseek-ai/DeepSeek-Coder-V2-Lite-Instruct"; TP=1 ;;
  llama-3-3-70b)          MODEL="meta-llama/Llama-3.3-70B-Instruct"; TP=4 ;;
  qwen2-5-72b)            MODEL="Qwen/Qwen2.5-72B-Instruct"; TP=4 ;;
  qwq-32b-preview)        MODEL="Qwen/QwQ-32B-Preview"; TP=2 ;;
  *)
    echo "usage: $0 EXPERT   (athene-v2-chat | deepseek-coder-v2-lite | llama-3-3-70b | qwen2-5-72b | qwq-32b-preview)" >&2
    echo "env: MODE=replicas|dp BASE_PORT NUM_GPUS MAX_MODEL_LEN MAX_NUM_SEQS GPU_MEMORY_UTILIZATION WC_SERVE_API_KEY DRY_RUN=1" >&2
    exit 2 ;;
esac
MODEL_PATH="${MODEL_PATH:-$MODEL}"  # a local copy of the weights; the served name stays $MODEL

if (( NUM_GPUS < TP )); then
  echo "$EXPERT needs $TP GPUs per replica (tensor parallel); this host has $NUM_GPUS" >&2
  exit 2
fi
REPLICAS=$(( NUM_GPUS / TP ))

common_args=(
  --served-model-name "$MODEL"
  --tensor-parallel-size "$TP"
  --generation-config vllm
  --enable-prefix-caching
  --max-model-len "$MAX_MODEL_LEN"
  --max-num-seqs "$MAX_NUM_SEQS"
  --gpu-memory-utilization "$GPU_MEMORY_UTILIZATION"
  --dtype auto
  --host 0.0.0.0
)
if [[ -n "${WC_SERVE_API_KEY:-}" ]]; then
  common_args+=(--api-key "$WC_SERVE_API_KEY")
fi

launch() {  # launch GPU_LIST PORT LOG_NAME [extra vllm args...]
  local gpus="$1" port="$2" name="$3"
  shift 3
  local command=(vllm serve "$MODEL_PATH" "${common_args[@]}" --port "$port" "$@")
  if [[ -n "${DRY_RUN:-}" ]]; then
    echo "CUDA_VISIBLE_DEVICES=$gpus ${command[*]}"
    return
  fi
  mkdir -p "$LOG_DIR"
  CUDA_VISIBLE_DEVICES="$gpus" nohup "${command[@]}" >"$LOG_DIR/$name.log" 2>&1 &
  echo "started $name (pid $!) on GPUs $gpus, port $port; log $LOG_DIR/$name.log"
}

host="$(hostname -f 2>/dev/null || hostname)"
endpoints=()
if [[ "$MODE" == "dp" ]]; then
  launch "$(seq -s, 0 $(( REPLICAS * TP - 1 )))" "$BASE_PORT" "$EXPERT-dp" --data-parallel-size "$REPLICAS"
  endpoints+=("http://$host:$BASE_PORT/v1")
elif [[ "$MODE" == "replicas" ]]; then
  for (( r = 0; r < REPLICAS; r++ )); do
    first=$(( r * TP ))
    port=$(( BASE_PORT + r ))
    launch "$(seq -s, "$first" $(( first + TP - 1 )))" "$port" "$EXPERT-$r"
    endpoints+=("http://$host:$port/v1")
  done
else
  echo "MODE must be replicas or dp, got $MODE" >&2
  exit 2
fi

# What to put in the arena config (add the endpoints of the expert's other hosts too).
echo
echo "  - slug: $EXPERT"
echo "    model: $MODEL"
echo "    backend: openai"
echo "    endpoints: [$(IFS=,; echo "${endpoints[*]}" | sed 's/,/, /g')]"
echo "    tokenizer: $MODEL   # local tokenizer: mining's pre-query template and logprob judging need it"
if [[ -n "${WC_SERVE_API_KEY:-}" ]]; then
  echo "    api_key_env: WC_SERVE_API_KEY"
fi
# Requests in flight = min(batch_size, max_concurrency); --max-num-seqs is per replica / DP rank.
echo "    batch_size: $(( MAX_NUM_SEQS * REPLICAS ))"
echo "    max_concurrency: $(( MAX_NUM_SEQS * REPLICAS ))"
echo "  (health: curl http://$host:$BASE_PORT/health ; models: curl http://$host:$BASE_PORT/v1/models)"
