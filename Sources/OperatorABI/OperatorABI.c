/* Compiles the ABI header as plain C and pins the layouts other languages rely on. */
#include "OperatorABI.h"

#define OZ_STATIC_ASSERT(cond, msg) typedef char oz_static_assert_##msg[(cond) ? 1 : -1]

/* DLPack DLTensor layout (64-bit targets). */
OZ_STATIC_ASSERT(offsetof(oz_tensor, data) == 0, tensor_data);
OZ_STATIC_ASSERT(offsetof(oz_tensor, device) == 8, tensor_device);
OZ_STATIC_ASSERT(offsetof(oz_tensor, ndim) == 16, tensor_ndim);
OZ_STATIC_ASSERT(offsetof(oz_tensor, dtype) == 20, tensor_dtype);
OZ_STATIC_ASSERT(offsetof(oz_tensor, shape) == 24, tensor_shape);
OZ_STATIC_ASSERT(offsetof(oz_tensor, strides) == 32, tensor_strides);
OZ_STATIC_ASSERT(offsetof(oz_tensor, byte_offset) == 40, tensor_byte_offset);
OZ_STATIC_ASSERT(sizeof(oz_tensor) == 48, tensor_size);

/* The prefix of the plugin table never moves. */
OZ_STATIC_ASSERT(offsetof(oz_plugin, struct_size) == 0, plugin_struct_size);
OZ_STATIC_ASSERT(offsetof(oz_plugin, abi_major) == 4, plugin_abi_major);
OZ_STATIC_ASSERT(offsetof(oz_plugin, abi_minor) == 8, plugin_abi_minor);

/* Every other shared struct starts with struct_size. */
OZ_STATIC_ASSERT(offsetof(oz_operator, struct_size) == 0, operator_struct_size);
OZ_STATIC_ASSERT(offsetof(oz_attr_def, struct_size) == 0, attr_def_struct_size);
OZ_STATIC_ASSERT(offsetof(oz_attr_value, struct_size) == 0, attr_value_struct_size);
OZ_STATIC_ASSERT(offsetof(oz_create_args, struct_size) == 0, create_args_struct_size);
OZ_STATIC_ASSERT(offsetof(oz_forward_args, struct_size) == 0, forward_args_struct_size);
OZ_STATIC_ASSERT(offsetof(oz_backward_args, struct_size) == 0, backward_args_struct_size);
OZ_STATIC_ASSERT(offsetof(oz_host_services, struct_size) == 0, host_services_struct_size);
OZ_STATIC_ASSERT(offsetof(oz_error, struct_size) == 0, error_struct_size);
OZ_STATIC_ASSERT(offsetof(oz_cost, struct_size) == 0, cost_struct_size);

/* Appended fields stay where the minor version that added them put them. */
OZ_STATIC_ASSERT(offsetof(oz_instance_info, fixed_length) == 32, instance_info_fixed_length_1_1);
OZ_STATIC_ASSERT(offsetof(oz_instance_info, complexity) == 40, instance_info_complexity_1_2);
OZ_STATIC_ASSERT(offsetof(oz_instance_info, num_state_entries) == 48, instance_info_num_state_entries_1_5);
OZ_STATIC_ASSERT(offsetof(oz_instance_info, diagnostics) == 56, instance_info_diagnostics_1_6);
OZ_STATIC_ASSERT(sizeof(oz_instance_info) == 64, instance_info_size_1_6);
OZ_STATIC_ASSERT(offsetof(oz_diagnose_args, struct_size) == 0, diagnose_args_struct_size);
OZ_STATIC_ASSERT(offsetof(oz_state_entry, struct_size) == 0, state_entry_struct_size);
