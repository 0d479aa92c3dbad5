#!/usr/bin/env bash
# Generates the gRPC messages and service definitions in src/server/generated/
# from proto/ with protoc and ts-proto (protoc from Debian's protobuf-compiler,
# the well-known types from libprotobuf-dev). The output is committed, so
# neither a build nor a consumer needs the generator; test/host/server/
# generated.test.ts checks it is current.
#   scripts/gen-proto.sh [OUT_DIR]   (default src/server/generated)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-src/server/generated}
mkdir -p "$out"
rm -rf "${out:?}"/*
protoc \
  --plugin=protoc-gen-ts_proto=node_modules/.bin/protoc-gen-ts_proto \
  --ts_proto_out="$out" \
  --ts_proto_opt=outputServices=grpc-js,snakeToCamel=false,forceLong=number,stringEnums=true,useDate=false,esModuleInterop=true,importSuffix=.js,env=node,outputJsonMethods=false,outputPartialMethods=true,useOptionals=none,lowerCaseServiceMethods=false,comments=true \
  -I proto -I /usr/include \
  containerd/services/snapshots/v1/snapshots.proto grpc/health/v1/health.proto
