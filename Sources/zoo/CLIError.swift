/// A command's failure at run time: printed as `Error: <message>` without the usage text that
/// ArgumentParser adds for `ValidationError` (which is kept for argument checks in `validate()`).
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}
