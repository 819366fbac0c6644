/// The files of a Swift plugin scaffold: a SwiftPM package outside this one that depends on this checkout by path
/// for PluginKit (linked statically into the plugin, so the built library needs nothing from the checkout at run
/// time), with a complete, conformant example operator to edit.
///
/// The operator is the C scaffold's (``CPluginTemplate``), in float32 and float64: the causal token mixer
/// `y[b,t,c] = a[c] * x[b,t,c] + s[c] * x[b,t-shift,c]`, parameters `a` and `s` of shape `[D]`, attribute `shift`.
///
/// The files are the templates in `Templates/swift/` (`Package.swift.template`, `Plugin.swift.template`,
/// `ShiftMixerKernel.swift.template`, `build.sh.template`, `README-swift.md.template`), embedded by SwiftPM's
/// `.embedInCode`, with placeholders `@NAME@` (the plugin name), `@MODULE@` (``moduleName(_:)``), `@PACKAGE_ROOT@`
/// (the checkout's absolute path) and `@PACKAGE_IDENTITY@` (its SwiftPM package identity).
enum SwiftPluginTemplate {
    /// The Swift module (target) name for plugin `name`: `my_mixer` -> `MyMixerPlugin` (never a keyword).
    static func moduleName(_ name: String) -> String {
        name.split(separator: "_").map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined() + "Plugin"
    }

    /// `Package.swift`; `packageRoot` is the absolute path of the OperatorZoo checkout.
    static func manifest(name: String, packageRoot: String) -> String {
        // SwiftPM names a path dependency by its folder (the package identity), not by its `name:`.
        let identity = packageRoot.split(separator: "/").last.map(String.init) ?? "OperatorZoo"
        return ScaffoldTemplate.render(
            PackageResources.Package_swift_template,
            ["NAME": name, "MODULE": moduleName(name), "PACKAGE_ROOT": packageRoot, "PACKAGE_IDENTITY": identity])
    }

    /// `Sources/<Module>/Plugin.swift`: the plugin table and the entry symbol.
    static func plugin(name: String) -> String {
        ScaffoldTemplate.render(PackageResources.Plugin_swift_template, ["NAME": name])
    }

    /// `Sources/<Module>/ShiftMixerKernel.swift`: the example operator.
    static func kernel(name: String) -> String {
        ScaffoldTemplate.render(PackageResources.ShiftMixerKernel_swift_template, ["NAME": name])
    }

    /// `build.sh`: builds with SwiftPM and prints the library's path.
    static func buildScript(name: String) -> String {
        ScaffoldTemplate.render(PackageResources.build_sh_template, ["NAME": name])
    }

    /// `README.md`.
    static func readme(name: String, packageRoot: String) -> String {
        ScaffoldTemplate.render(
            PackageResources.README_swift_md_template,
            ["NAME": name, "MODULE": moduleName(name), "PACKAGE_ROOT": packageRoot])
    }
}
