/// Fills the scaffold templates of `Scaffold/Templates/` (embedded in the module by SwiftPM's `.embedInCode` rule as
/// `PackageResources.<file name with '.' and '-' as '_'>`, UTF-8 bytes): each is the generated file as it is
/// written, with placeholders `@KEY@` (upper-case letters and `_`) where the values go, e.g. `@NAME@`. The files end
/// in `.template` so that, should the resource rules go missing, SwiftPM never compiles one as a source of this target
/// (`plugin.c.template` is C, `Plugin.swift.template` Swift); their basenames are unique because SwiftPM names the
/// embedded arrays by basename alone.
enum ScaffoldTemplate {
    /// `template` with every `@KEY@` whose KEY is in `values` replaced by its value, in one pass: an inserted value is
    /// never scanned again, and every other `@` (a Makefile's `$@`, Swift's `@c`) stays as it is.
    static func render(_ template: [UInt8], _ values: [String: String]) -> String {
        let at = UInt8(ascii: "@")
        func isKey(_ byte: UInt8) -> Bool {
            (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) || byte == UInt8(ascii: "_")
        }
        var output: [UInt8] = []
        output.reserveCapacity(template.count + 256)
        var i = 0
        while i < template.count {
            if template[i] == at {
                var end = i + 1
                while end < template.count && isKey(template[end]) { end += 1 }
                if end > i + 1, end < template.count, template[end] == at,
                    let value = values[String(decoding: template[(i + 1)..<end], as: UTF8.self)]
                {
                    output.append(contentsOf: value.utf8)
                    i = end + 1
                    continue
                }
            }
            output.append(template[i])
            i += 1
        }
        return String(decoding: output, as: UTF8.self)
    }
}
