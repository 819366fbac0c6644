import Foundation
import Testing

@testable import HostCore
@testable import HostGraft
@testable import HostModel

/// ``SafetensorsStreamWriter`` and ``SafetensorsFile/rows(named:_:)``: a file written piece by piece reads back as the
/// one-shot writer's (same bytes), rows gather exactly (float16 within its rounding), and a short or long stream is
/// refused without leaving a file. Then the stage-1 ``ActivationCache`` round trip.
@Suite struct SafetensorsStreamTests {
    func folder() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("st-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test func streamedFileEqualsTheOneShotWriters() throws {
        let dir = try folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let a = Tensor<Float>.randomNormal([7, 5], seed: 1), b = Tensor<Float>.randomNormal([3, 2, 2], seed: 2)
        let empty = Tensor<Float>(zeros: [0, 4])
        try SafetensorsFile.write(
            path: dir + "/whole.safetensors",
            tensors: [
                SafetensorsTensor(name: "a", a, dtype: .float16), SafetensorsTensor(name: "e", empty),
                SafetensorsTensor(name: "b", b),
            ], metadata: ["k": "v"])
        let writer = try SafetensorsStreamWriter(
            path: dir + "/streamed.safetensors",
            tensors: [("a", .float16, [7, 5]), ("e", .float32, [0, 4]), ("b", .float32, [3, 2, 2])],
            metadata: ["k": "v"])
        // Pieces that cross from one tensor into the next (and skip the empty one).
        let all = a.scalars + b.scalars
        for range in [0..<4, 4..<33, 33..<47] {
            try writer.append(try Tensor(shape: [range.count], scalars: Array(all[range])))
        }
        try writer.commit()
        #expect(
            try Data(contentsOf: URL(fileURLWithPath: dir + "/whole.safetensors"))
                == Data(contentsOf: URL(fileURLWithPath: dir + "/streamed.safetensors")))
        let file = try SafetensorsFile.read(path: dir + "/streamed.safetensors")
        let rows = try file.rows(named: "a", [6, 0, 6])
        let full = try file.tensor(named: "a")
        #expect(rows.shape == [3, 5])
        for (n, r) in [6, 0, 6].enumerated() { for j in 0..<5 { #expect(rows[n, j] == full[r, j]) } }
        for j in 0..<5 { #expect(abs(full[6, j] - a[6, j]) <= abs(a[6, j]) * 0x1p-11 + 1e-7) }
        #expect(try file.rows(named: "b", [2]) == (try Tensor(shape: [1, 2, 2], scalars: Array(b.scalars[8..<12]))))
    }

    @Test func shortOrLongStreamsAreRefusedAndLeaveNoFile() throws {
        let dir = try folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/x.safetensors"
        let short = try SafetensorsStreamWriter(path: path, tensors: [("a", .float32, [4])])
        try short.append(Tensor(zeros: [3]))
        #expect { try short.commit() } throws: {
            "\($0)".contains("'a' has 3 of its 4 values") && "\($0)".contains(path)
        }
        let long = try SafetensorsStreamWriter(path: path, tensors: [("a", .float32, [2])])
        #expect(throws: SafetensorsError.self) { try long.append(Tensor(zeros: [3])) }
        #expect(throws: SafetensorsError.self) {
            try SafetensorsStreamWriter(path: path, tensors: [("a", .float32, [1]), ("a", .float16, [1])])
        }
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test func activationCacheRoundTripsWithinFloat16() throws {
        let dir = try folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (tokens, width, samples) = (3, 4, 5)
        let inputs = (0..<2).map { Tensor<Float>.randomNormal([samples, tokens, width], seed: UInt64(10 + $0)) }
        let outputs = (0..<2).map { Tensor<Float>.randomNormal([samples, tokens, width], seed: UInt64(20 + $0)) }
        let conditioning = (0..<2).map { Tensor<Float>.randomNormal([samples, width], seed: UInt64(30 + $0)) }
        let memory = (0..<2).map {
            SlotDistiller.Activations(inputs: inputs[$0], outputs: outputs[$0], conditioning: conditioning[$0])
        }
        let path = dir + "/cache.safetensors"
        try ActivationCache.write(
            path: path, signature: "s", units: 2, samples: samples, tokens: tokens, width: width, conditioned: true
        ) { append in
            // Two batches: samples 0..<3 and 3..<5.
            for range in [0..<3, 3..<5] {
                try append(
                    memory.map {
                        let (x, y, c) = $0.rows(Array(range))
                        return SlotDistiller.Activations(inputs: x, outputs: y, conditioning: c)
                    })
            }
        }
        #expect(
            ActivationCache.open(
                path: path, signature: "other", units: 2, tokens: tokens, width: width, conditioned: true)
                == nil)
        let cached = try #require(
            ActivationCache.open(path: path, signature: "s", units: 2, tokens: tokens, width: width, conditioned: true))
        #expect(cached.map(\.count) == [samples, samples])
        for u in 0..<2 {
            let (x, y, c) = cached[u].rows([4, 1])
            let (ex, ey, ec) = memory[u].rows([4, 1])
            for (got, want) in [(x, ex), (y, ey), (try #require(c), try #require(ec))] {
                #expect(got.shape == want.shape)
                for i in 0..<got.count {
                    // Float16 rounds to nearest: relative error at most 2^-11 (normal range).
                    #expect(abs(got[flat: i] - want[flat: i]) <= abs(want[flat: i]) * 0x1p-11 + 1e-7)
                }
            }
        }
    }
}
