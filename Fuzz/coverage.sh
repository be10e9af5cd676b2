#!/usr/bin/env bash
# Line coverage of the code under fuzzing by the replayed seed corpus (coverlet, in-process, uninstrumented):
# runs the corpus replay theory of Tests/Fuzz/CorpusReplayTests.cs with the XPlat Code Coverage collector and prints
# covered / coverable lines for Stack/Wire, Stack/Checksums, Gro, LinkEndpoint/Channel and LinkEndpoint/Gso.
#
#   Fuzz/coverage.sh               the per-area table
#   Fuzz/coverage.sh Gro/          the uncovered lines of one area (file:line), to see which seeds are missing
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
out="$here/.work/coverage"
rm -rf "$out"
dotnet build "$repo/Tests" -c Release -nologo -v quiet >/dev/null
dotnet test "$repo/Tests" -c Release --no-build --nologo \
  --filter "FullyQualifiedName~NetStack.Tests.Fuzz.CorpusReplayTests.Corpus_file_passes_its_target" \
  --collect:"XPlat Code Coverage" --results-directory "$out" >/dev/null
report=$(find "$out" -name coverage.cobertura.xml | head -1)
dotnet "$repo/Fuzz/bin/Release/net10.0/NetStack.Fuzz.dll" coverage "$report" "$@"
